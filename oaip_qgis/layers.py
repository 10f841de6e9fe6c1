"""A run's output files as styled layers in one project group; the layers a run reads as the files the engine is given
(their own, or a copy written out).

Styles follow what an analyst reads first: changed pixels in a strong red over a transparent
background, the difference image and confidence as colour ramps, polygons as red outlines.
"""
from __future__ import annotations

import os
from typing import Optional

from qgis.core import (
    QgsColorRampShader,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCsException,
    QgsFeature,
    QgsFields,
    QgsFillSymbol,
    QgsLayerTreeGroup,
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingUtils,
    QgsProject,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP, QVariant
from qgis.PyQt.QtGui import QColor

from .core.errors import InputError
from .core.params import RunParams
from .core.raster.input_files import gdal_name
from .core.raster.vector_layer import other_options
from .i18n import tr

CHANGED_COLOUR = QColor(230, 0, 38)
TRANSPARENT = QColor(0, 0, 0, 0)
DIFFERENCE_RAMP = "Viridis"
CONFIDENCE_RAMP = "Blues"
# Top to bottom in the group; hidden ones are there to inspect, not to cover the others.
LAYER_ORDER = (("polygons", QT_TRANSLATE_NOOP("OAIP", "Change polygons"), True),
               ("change", QT_TRANSLATE_NOOP("OAIP", "Change"), True),
               ("confidence", QT_TRANSLATE_NOOP("OAIP", "Confidence"), False),
               ("difference", QT_TRANSLATE_NOOP("OAIP", "Difference (change score)"), False))


# GDAL open options that change how fast a file is read, not what it holds: the engine opens the file without them.
SPEED_OPTIONS = ("NUM_THREADS",)


def raster_source(layer: Optional[QgsMapLayer], label: str) -> Optional[str]:
    """The file behind a raster layer (None without a layer), as the engine will read it: through GDAL, from the
    file alone. So a layer from another provider (WMS, a database), a CRS set on the layer in QGIS and not in
    its file, and open options that change what GDAL reads are refused with the layer's name."""
    if layer is None:
        return None
    if layer.providerType() != "gdal":
        raise InputError(tr("{label}: layer '{layer}' is not a file-based (GDAL) raster but a {provider} layer, "
                            "which the engine cannot read: save it as a GeoTIFF first (right-click the layer > "
                            "Export > Save As..., at the resolution you need) and choose that file.").format(
            label=label, layer=layer.name(), provider=layer.providerType()))
    file_crs = layer.dataProvider().crs()
    if file_crs.isValid() and layer.crs() != file_crs:   # the results came back in the file's CRS, far off
        raise InputError(tr("{label}: layer '{layer}' is set to {crs} in QGIS, but its file says {file_crs}, which "
                            "the engine reads: write the right CRS into the file (Raster > Projections > Assign "
                            "Projection) or set the layer back to its file's CRS (Layer Properties > Source).").format(
            label=label, layer=layer.name(), crs=layer.crs().userFriendlyIdentifier(),
            file_crs=file_crs.userFriendlyIdentifier()))
    return _without_speed_options(layer, label)


def _without_speed_options(layer: QgsMapLayer, label: str) -> str:
    """The layer's source without its GDAL open options (`file.tif|option:NUM_THREADS=2`, as the Data Source
    Manager adds them), which read as a file that does not exist; refused where an option would change what is
    read (GEOREF_SOURCES, …), since the engine could not apply it."""
    registry = QgsProviderRegistry.instance()
    parts = registry.decodeUri("gdal", layer.source())
    options = parts.pop("openOptions", None) or []
    changing = [option for option in options if option.split("=")[0].strip().upper() not in SPEED_OPTIONS]
    if changing:
        raise InputError(tr("{label}: layer '{layer}' is opened with the GDAL option(s) {options}, which the engine "
                            "does not apply: add its file to the project again without them (Layer > Add Layer > "
                            "Add Raster Layer) and choose that layer.").format(
            label=label, layer=layer.name(), options=", ".join(changing)))
    return registry.encodeUri("gdal", parts) if options else layer.source()


def hold_gdal_layer(value, context: QgsProcessingContext, kind: type) -> None:
    """Make a layer that GDAL reads by a name other than a file's path loadable by Processing.

    QGIS 3.22 loads a layer given as text only where the text, or its part before "|", is a file that exists, so a
    GDAL virtual path (/vsizip/…: a zipped shapefile, a Sentinel-1 product) or a subdataset name (NETCDF:"f.nc":var),
    which the engine reads and its own messages suggest, was "not found". Loaded by GDAL's provider (`kind`:
    QgsRasterLayer or QgsVectorLayer), such a layer is held in the run's temporary layer store, where Processing
    looks for a layer by its source before it looks at the file system."""
    if not isinstance(value, str) or not gdal_name(value):   # a file's path loads as it is: not loaded twice
        return
    if QgsProcessingUtils.mapLayerFromString(value, context) is not None:
        return
    layer = kind(value, value, "gdal" if kind is QgsRasterLayer else "ogr")
    if layer.isValid():
        context.temporaryLayerStore().addMapLayer(layer)


def named_as_layers(message: str, params: RunParams) -> str:
    """A message about layers the run read from copies (`params.copied_layers`), naming the layers as the analyst
    knows them instead of the copies, which go with the run."""
    for key, name in (params.copied_layers or {}).items():
        message = message.replace(f"'{getattr(params, key)}'", tr("layer '{name}'").format(name=name))
    return message


def write_gpkg(layer: QgsVectorLayer, path: str, crs: QgsCoordinateReferenceSystem) -> str:
    """Write the layer's features (with edits not yet saved) to a GeoPackage in `crs`; returns the path. A `fid`
    field is kept where it numbers the features (messages name a feature by it, as the attribute table shows it);
    a feature added and not saved, whose fid reads "Autogenerate" there, is numbered after the saved ones (left
    behind, the field made the copy number every feature afresh, added ones first: a message named sample 4 for the
    attribute table's 3). It is left behind where the saved ones do not number the features (a scratch layer made
    from a GeoPackage may hold one fid twice)."""
    if not layer.isValid():   # the writer made an empty copy of it, then called the layer empty
        raise OSError(tr("The layer '{layer}' cannot be read (QGIS marks it as not valid: its source is missing or "
                         "broken): mend or replace it in the project.").format(layer=layer.name()))
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "layer"
    fields = QgsFields(layer.fields())
    fid = next((i for i, field in enumerate(fields) if field.name().lower() == "fid"), None)
    numbers = _unsaved_numbers(layer, fid) if fid is not None else {}
    if numbers is None:
        fields.remove(fid)
    transform = (QgsCoordinateTransform(layer.crs(), crs, QgsProject.instance())
                 if crs.isValid() and layer.crs().isValid() and crs != layer.crs() else None)
    writer = QgsVectorFileWriter.create(path, fields, layer.wkbType(), crs if transform else layer.crs(),
                                        QgsProject.instance().transformContext(), options)
    try:
        written = writer.hasError() == QgsVectorFileWriter.NoError
        for feature in layer.getFeatures() if written else ():
            attributes = feature.attributes()
            if numbers is None:
                del attributes[fid]
            elif feature.id() in numbers:
                attributes[fid] = numbers[feature.id()]
            copy = QgsFeature(fields)
            copy.setAttributes(attributes)
            geometry = feature.geometry()
            if transform is not None and not geometry.isNull():
                try:
                    geometry.transform(transform)
                except QgsCsException:   # e.g. a latitude of 95° in a layer whose CRS is set wrong
                    raise OSError(tr("The layer '{layer}' has a feature (fid {fid}) that cannot be transformed from "
                                     "{source} to {target}: check the layer's CRS (its coordinates may be of "
                                     "another).").format(layer=layer.name(), fid=feature.id(),
                                                         source=layer.crs().authid(), target=crs.authid())) from None
            copy.setGeometry(geometry)
            written = writer.addFeature(copy)
            if not written:
                break
        message = writer.errorMessage()
    finally:
        del writer   # flushes and closes the file
    if not written:
        raise OSError(tr("Could not write '{layer}' to {path}: {message}").format(layer=layer.name(), path=path,
                                                                                   message=message))
    return path


def _unsaved_numbers(layer: QgsVectorLayer, field: int) -> Optional[dict[int, int]]:
    """The number a feature without a whole-number fid gets in a copy (not saved yet: "Autogenerate"; or NULL in a
    scratch layer's field), as its QGIS id -> the next after the others' fids in the order QGIS gives them; None
    where the others do not number the features (one whole number twice, or a field of another kind)."""
    if layer.fields().at(field).type() not in (QVariant.Int, QVariant.LongLong):
        return None
    saved, unsaved = set(), []
    for feature in layer.getFeatures():
        value = feature.attribute(field)
        if isinstance(value, int) and not isinstance(value, bool):
            if value in saved:
                return None
            saved.add(value)
        else:
            unsaved.append(feature.id())
    first = max(saved, default=0) + 1
    return {feature: first + k for k, feature in enumerate(unsaved)}


def vector_file(layer: QgsMapLayer) -> Optional[str]:
    """The file GDAL reads a vector layer whole from (`file|layername=…`, which core.raster.vector_layer reads),
    so that messages name the analyst's file; None for a layer the engine must be given a copy of (another
    provider, a filter, unsaved edits, a part of its file such as one geometry type)."""
    if layer.providerType() != "ogr" or layer.subsetString() or layer.isModified():
        return None
    if other_options(layer.source()):
        return None   # e.g. `|geometrytype=Polygon` of a mixed file: GDAL would read the points QGIS hides too
    return layer.source()


def style_change(layer: QgsRasterLayer) -> None:
    """1 changed: strong red; 0 unchanged: transparent (nodata is not drawn at all)."""
    classes = [QgsPalettedRasterRenderer.Class(0, TRANSPARENT, tr("unchanged")),
               QgsPalettedRasterRenderer.Class(1, CHANGED_COLOUR, tr("changed"))]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))
    layer.triggerRepaint()


def style_ramp(layer: QgsRasterLayer, ramp_name: str) -> None:
    """A continuous colour ramp over 0–1 (probabilities, confidence), so runs and re-thresholds compare by colour."""
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(1.0)
    renderer.createShader(QgsStyle.defaultStyle().colorRamp(ramp_name), QgsColorRampShader.Interpolated,
                          QgsColorRampShader.Continuous, 5)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def style_polygons(layer: QgsVectorLayer) -> None:
    symbol = QgsFillSymbol.createSimple({"color": "230,0,38,40", "outline_color": "230,0,38,255",
                                         "outline_width": "0.5"})
    layer.renderer().setSymbol(symbol)
    layer.triggerRepaint()


def style_output(kind: str, layer: QgsMapLayer) -> None:
    """The style of one kind of output: change, difference, confidence or polygons."""
    if kind == "change":
        style_change(layer)
    elif kind == "difference":
        style_ramp(layer, DIFFERENCE_RAMP)
    elif kind == "confidence":
        style_ramp(layer, CONFIDENCE_RAMP)
    else:
        style_polygons(layer)


def _open(kind: str, path: str, name: str) -> QgsMapLayer:
    """The output as a styled layer; its style file beside it is style_files' (the tasks write it, once)."""
    layer = QgsVectorLayer(path, name, "ogr") if kind == "polygons" else QgsRasterLayer(path, name, "gdal")
    if not layer.isValid():
        raise OSError(tr("QGIS cannot open the {kind} output '{path}'.").format(kind=kind, path=path))
    style_output(kind, layer)
    return layer


def save_style_beside(layer: QgsRasterLayer) -> None:
    """The layer's style as `<file>.qml` beside its file, which QGIS applies whenever the file is opened later
    (dragged in, in another project, on a colleague's machine): opened so, the outputs were grey. A folder that
    takes no more files leaves the outputs as they are, without the style."""
    layer.saveNamedStyle(os.path.splitext(layer.source())[0] + ".qml")


def style_files(outputs: dict[str, Optional[str]]) -> None:
    """Write the style of each raster output (kind -> path; change, difference, confidence; other kinds are left)
    beside it; one QGIS cannot open keeps the run's result and goes without. On a worker thread too (the layers
    opened here join no project): a run or a save that ends after its project was closed keeps its styles."""
    for kind, path in outputs.items():
        if path and kind in ("change", "difference", "confidence"):
            try:
                save_style_beside(_open(kind, path, kind))
            except OSError:
                continue


def add_run_layers(group_name: str, outputs: dict) -> tuple[QgsLayerTreeGroup, dict[str, QgsMapLayer], list[str]]:
    """Add the outputs that exist (keys change, difference, confidence, polygons) as a group on top; returns it, the
    layers, and why QGIS could not open the others. One QGIS cannot open leaves the others shown (QGIS 3.22's OGR
    provider opens no GeoPackage in a folder named like 'Flood%20maps', which GDAL reads: the run's rasters were not
    added either); raises OSError when QGIS opens none."""
    project = QgsProject.instance()
    layers, unopened = {}, []
    for kind, name, _ in LAYER_ORDER:
        if outputs.get(kind):
            try:
                layers[kind] = _open(kind, outputs[kind], tr(name))
            except OSError as exc:
                unopened.append(str(exc))
    if not layers and unopened:
        raise OSError(" ".join(unopened))
    group = project.layerTreeRoot().insertGroup(0, group_name)
    for kind, _, visible in LAYER_ORDER:
        if kind in layers:
            project.addMapLayer(layers[kind], False)
            group.addLayer(layers[kind]).setItemVisibilityChecked(visible)
    return group, layers, unopened
