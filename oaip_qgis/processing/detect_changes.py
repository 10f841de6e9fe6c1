"""`oaip:detectchanges`: thin Processing front end that turns parameters into RunParams and runs the pipeline."""
from __future__ import annotations

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
    QgsProcessingUtils,
    QgsProperty,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QIcon

from ..core.batch.table import FALSE, TRUE
from ..core.decision.confirmation import VETO_MIN
from ..core.decision.threshold import THRESHOLD_METHODS
from ..core.errors import InputError, OaipError
from ..core.params import EPOCHS_RANGE, GRIDS, MODES, SEED_RANGE, RunParams, closest_name, parse_bands
from ..core.progress import Progress
from ..core.raster.coregister import REACH
from ..core.raster.input_files import absolute_source, check_raster, check_vector, gdal_name
from ..i18n import tr
from ..identity import icon, tag_words
from ..layers import hold_gdal_layer, named_as_layers, raster_source, style_files, vector_file, write_gpkg
from .choices import named_choices
from .interrupt import cancelled_on_unload, ctrl_c_cancels
from .styling import style_when_loaded
from .value_checks import value_sentence


def help_text() -> str:
    """What the result means and which mode to choose first, how it works last."""
    return tr(
        "<p>Maps what changed between two images of the same place taken before (T1) and after (T2) an event "
        "(flood, fire, earthquake), also when they come from different sensors (optical and SAR, or two optical "
        "sensors), with no training labels.</p>"
        "<p><b>Result</b>: <i>Change</i> is 1 where the place changed, 0 where it did not, 255 where either image "
        "has no data. <i>Difference image</i> is the change score (0..1; above 0.5 is the "
        "automatic decision's change) and <i>Confidence</i> how far each pixel lies from the threshold: low values are the uncertain ones to check. <i>Change polygons</i> "
        "give each changed region with its area in m². <i>Statistics</i> (JSON) hold the threshold, the changed "
        "area and, with a reference mask, the accuracy (measured only where the reference has data).</p>"
        "<p><b>Which mode</b>: <i>int8</i> (default) trains two small networks on the pair (their mean is the "
        "detector) and is the most accurate on most pairs (a few seconds to minutes). <i>prior</i> needs no training: use it for a quick first "
        "look or on very large scenes; on some pairs it is as good as the network. <i>fp32</i> is the same network in floating point, for comparison.</p>"
        "<p>A threshold value is used only with the <i>manual</i> threshold method: it cuts the change score. Complex SAR (SLC) bands "
        "are taken as their intensity. Bands are 1-based lists such as 1,2,3; empty means all bands. "
        "<i>Analyst samples</i> (polygons work best; a point labels one pixel) keep their 0/1 label in every "
        "output and teach the network what change looks like, so similar places the prior marks are kept. "
        "Where the map misses a kind of change (new buildings beside a flood, say), draw a few of them as changed "
        "samples and tick <i>Find more change like the changed samples</i>: the network may then also mark "
        "places the prior left under its cut (never below the evidence floor). It can add false alarms that look "
        "like your samples: check the added places and draw those as unchanged samples. "
        "An <i>area of interest</i> limits the outputs; it is mapped as the ground around it in the images (as much "
        "of their overlap as the prior's budget holds, which takes as long as for that ground): the prior is "
        "computed there and the network learns there, so an area drawn tight around a flood is still seen against "
        "unchanged land, and where that ground is the whole scene the area's map is the scene's within it (up to "
        "the blocks' phase); the verdict is then that ground's, with how much of the area itself is marked. Images "
        "cropped tight around the change have no such ground: where a fifth of a scene or more changed alike, the "
        "change can be missed (the log says when the prior had to work around it). "
        "Thick cloud in an optical image is marked as change, since the other image sees the ground beneath it: "
        "the log says when much of the change marked, or of an image, is white in every band; for a clouded image tick "
        "<i>Leave out places white in every band of an optical image</i> (advanced), which leaves them and their "
        "hazy edge out as no data (white roofs and snow go with them, so leave it off for a clear image). "
        "Where both images are of one kind (two radar images, one sensor twice, or two optical images), tick "
        "<i>Both images are of one kind</i> (advanced): a scene the structural prior finds unchanged may then be "
        "mapped from their log-ratio or canonical difference, and weak change that such a measure shows is not "
        "confined to compact groups; the log says when it would apply.</p>"
        "<p><b>How it works</b>: the coarser image is warped onto the finer one's grid (or onto the grid you "
        "choose), so the map keeps the finer detail and does not depend on which image is T1, and both are "
        "cropped to the overlap; "
        "a whole-pixel shift of T2 of up to {shift} pixels, found by mutual information, is undone when it is clear "
        "(the log says what was found). "
        "A structural prior on block means (each image's self-similarity, compared across the two sensors) ranks "
        "the places most and least likely to have changed; where the two images can also be compared value "
        "against value (two SAR images: their log-ratio; two multispectral optical images: IR-MAD's canonical "
        "difference) and that comparison ranks the prior's surest places as the prior does, it joins the prior "
        "(the log says whether; give an optical image all its bands, not one). In int8 or fp32 mode a dual-VGG detector is fine-tuned "
        "on those pseudo-labels (int8: all-integer training; both modes prune filters adaptively unless told "
        "not to); a place is changed where the prior is above its threshold (Otsu's unless you choose another, "
        "never below the "
        "scene's evidence floor) and the network confirms it. Where the network vetoes under {veto:g} % of the "
        "prior's change (within its own error) the map is the prior's; the log says which.</p>"
    ).format(shift=REACH, veto=100 * VETO_MIN)


def _given_text(value, context) -> str:
    """What a layer parameter was given, as text: a layer id, name or path, also inside a selected source or a
    data-defined property; "" for anything else (a layer object)."""
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        value = value.source
    if isinstance(value, QgsProperty):
        value, _ = value.valueAsString(context.expressionContext())
    return value if isinstance(value, str) else ""


# Destinations QGIS's own algorithms take that name no file (a GeoPackage's table, a memory layer, a database).
NOT_FILES = ("ogr", "memory", "postgres", "postgis", "spatialite", "mssql", "oracle")


def _band_list(text: str, name: str) -> list[int] | None:
    try:
        return parse_bands(text)
    except ValueError as exc:
        raise QgsProcessingException(
            tr("{name}: band list must be integers separated by commas, not {text!r}.").format(name=name, text=text)
        ) from exc


def _wrong_file(definition: QgsProcessingParameterFile, value) -> str | None:
    """The sentence for a file parameter given a missing file or one of another kind; None when it fits."""
    if not isinstance(value, str) or not value.strip():
        return None
    extension = definition.extension()
    if not os.path.isfile(value):
        return tr("{name}: '{path}' is not a file.").format(name=definition.name(), path=value)
    if extension and not value.lower().endswith("." + extension.lower()):
        return tr("{name}: '{path}' is not a .{extension} file; give one, or leave it empty.").format(
            name=definition.name(), path=value, extension=extension)
    return None


def _advanced(parameter: QgsProcessingParameterDefinition) -> QgsProcessingParameterDefinition:
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


class DetectChangesAlgorithm(QgsProcessingAlgorithm):
    T1 = "T1"
    T2 = "T2"
    REFERENCE = "REFERENCE"
    SAMPLES = "SAMPLES"
    EXTEND = "EXTEND_FROM_SAMPLES"
    AOI = "AOI"
    BANDS1 = "BANDS1"
    BANDS2 = "BANDS2"
    GRID = "GRID"
    PIXEL_SIZE = "PIXEL_SIZE"
    NODATA1 = "NODATA1"
    NODATA2 = "NODATA2"
    SAME_GRID = "SAME_GRID"
    COREGISTER = "COREGISTER"
    ONE_KIND = "ONE_KIND"
    MASK_CLOUDS = "MASK_CLOUDS"
    MODE = "MODE"
    SEED = "SEED"
    EPOCHS = "EPOCHS"
    PRUNE = "PRUNE"
    THRESHOLD_METHOD = "THRESHOLD_METHOD"
    THRESHOLD = "THRESHOLD"
    VGG16 = "VGG16_WEIGHTS"
    MIN_AREA = "MIN_AREA"
    OUTPUT_CHANGE = "OUTPUT_CHANGE"
    OUTPUT_DIFFERENCE = "OUTPUT_DIFFERENCE"
    OUTPUT_CONFIDENCE = "OUTPUT_CONFIDENCE"
    OUTPUT_POLYGONS = "OUTPUT_POLYGONS"
    OUTPUT_STATS = "OUTPUT_STATS"

    def name(self) -> str:
        return "detectchanges"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return tr("Detect changes (heterogeneous pair, OAIP)")

    def group(self) -> str:
        return tr("Change detection")

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return "changedetection"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_text()

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return tr("Maps what changed between two images from different sensors (optical, radar), without labels.")

    def tags(self) -> list[str]:
        return tag_words()

    def icon(self) -> QIcon:
        return icon()

    def createInstance(self) -> DetectChangesAlgorithm:  # noqa: N802 (QGIS's name)
        return DetectChangesAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        defaults = RunParams(t1="", t2="")
        self.addParameter(QgsProcessingParameterRasterLayer(self.T1, tr("Image before (T1)")))
        t2 = QgsProcessingParameterRasterLayer(self.T2, tr("Image after (T2)"))
        # The dialog would start both on the current layer: T2 starts on another raster (it may still be set
        # to the same one).
        t2.setMetadata({"widget_wrapper": {"class": f"{__package__}.widgets.OtherRasterWidgetWrapper"},   # any folder name
                        "other_layer": self.T1})
        self.addParameter(t2)
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.REFERENCE, tr("Reference change mask (1 changed, 0 unchanged) for accuracy"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.SAMPLES, tr("Analyst samples (points or polygons with a 0/1 field 'changed')"),
            [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.EXTEND, tr("Find more change like the changed samples (the network may mark places the prior "
                            "misses)"), defaultValue=defaults.extend_from_samples))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.AOI, tr("Area of interest"), [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterString(self.BANDS1, tr("T1 bands (e.g. 1,2,3; empty: all)"),
                                                       optional=True, defaultValue=""))
        self.addParameter(QgsProcessingParameterString(self.BANDS2, tr("T2 bands (e.g. 1; empty: all)"),
                                                       optional=True, defaultValue=""))
        self.addParameter(QgsProcessingParameterEnum(self.MODE, tr("Mode (int8: all-integer trained network; fp32: the "
                                                                   "same network in floating point; prior: quick, "
                                                                   "no training)"), options=list(MODES),
                                                     defaultValue=defaults.mode, usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterEnum(self.THRESHOLD_METHOD, tr("Threshold method"),
                                                     options=list(THRESHOLD_METHODS),
                                                     defaultValue=defaults.threshold_method,
                                                     usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(self.THRESHOLD, tr("Manual threshold (0 to below 1; only with "
                                                                          "the manual method)"),
                                                       type=QgsProcessingParameterNumber.Double,
                                                       optional=True, minValue=0.0, maxValue=1.0))
        for parameter in (
            QgsProcessingParameterEnum(self.GRID, tr("Output grid from"), options=list(GRIDS),
                                       defaultValue=defaults.grid, usesStaticStrings=True),
            QgsProcessingParameterNumber(self.PIXEL_SIZE, tr("Output pixel size (grid's CRS units; empty: the "
                                                             "grid's own)"),
                                         type=QgsProcessingParameterNumber.Double, optional=True, minValue=0.0),
            QgsProcessingParameterNumber(self.NODATA1, tr("T1 nodata value (empty: from the file)"),
                                         type=QgsProcessingParameterNumber.Double, optional=True),
            QgsProcessingParameterNumber(self.NODATA2, tr("T2 nodata value (empty: from the file)"),
                                         type=QgsProcessingParameterNumber.Double, optional=True),
            QgsProcessingParameterBoolean(self.SAME_GRID, tr("Images without CRS share one grid"),
                                          defaultValue=defaults.same_grid),
            QgsProcessingParameterBoolean(self.COREGISTER, tr("Find and undo a shift of T2 of up to {shift} pixels "
                                                              "(mutual information)").format(shift=REACH),
                                          defaultValue=defaults.coregister),
            QgsProcessingParameterBoolean(self.ONE_KIND, tr("Both images are of one kind (two radar images, one "
                                                            "sensor twice, or two optical images)"),
                                          defaultValue=defaults.one_kind),
            QgsProcessingParameterBoolean(self.MASK_CLOUDS, tr("Leave out places white in every band of an optical "
                                                               "image, and their hazy edge, as cloud (snow, glare "
                                                               "and white roofs go with them)"),
                                          defaultValue=defaults.mask_clouds),
            QgsProcessingParameterNumber(self.MIN_AREA, tr("Minimum change polygon area (m²)"),
                                         type=QgsProcessingParameterNumber.Double,
                                         defaultValue=defaults.min_polygon_area, minValue=0.0),
            QgsProcessingParameterNumber(self.SEED, tr("Random seed"), defaultValue=defaults.seed,
                                         minValue=SEED_RANGE[0], maxValue=SEED_RANGE[1]),
            QgsProcessingParameterNumber(self.EPOCHS, tr("Training epochs"), defaultValue=defaults.epochs,
                                         minValue=EPOCHS_RANGE[0], maxValue=EPOCHS_RANGE[1]),
            QgsProcessingParameterBoolean(self.PRUNE, tr("Prune filters during training"),
                                          defaultValue=defaults.prune),
            QgsProcessingParameterFile(self.VGG16, tr("Initial weights: torchvision vgg16 state_dict (.pth; "
                                                      "empty: seeded)"), extension="pth", optional=True)):
            self.addParameter(_advanced(parameter))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT_CHANGE, tr("Change")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_DIFFERENCE, tr("Difference (change score)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_CONFIDENCE, tr("Confidence"), optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT_POLYGONS, tr("Change polygons"), QgsProcessing.TypeVectorPolygon, optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_STATS, tr("Statistics"), tr("JSON files (*.json)"), optional=True))

    def checkParameterValues(self, parameters, context):  # noqa: N802 (QGIS's name)
        """QGIS's own check, but with a sentence that names the value and what is allowed: the range of a
        number, the options of a choice, and why a raster or vector file cannot be used (QGIS says "not
        found" of a file that exists). A choice may be given by its number, as qgis_process's help offers. A
        layer GDAL reads by a virtual path or a subdataset name is loaded here (layers.hold_gdal_layer)."""
        parameters = named_choices(self, parameters)
        known = [definition.name() for definition in self.parameterDefinitions()]
        for name in sorted(set(parameters) - set(known)):   # one far from every name is only said (DEVICE=cuda)
            close = closest_name(name, known)
            if close:
                return False, tr("{name} is not a parameter of this algorithm: did you mean {close}? (Without it "
                                 "the run would use {close}'s default.)").format(name=name, close=close)
        for definition in self.parameterDefinitions():
            value = parameters.get(definition.name())
            message = None
            if isinstance(definition, QgsProcessingParameterNumber | QgsProcessingParameterEnum |
                          QgsProcessingParameterBoolean):
                message = value_sentence(definition, value)
            elif isinstance(definition, QgsProcessingParameterRasterLayer):
                hold_gdal_layer(value, context, QgsRasterLayer)
                message = self._unreadable(check_raster, QgsRasterLayer, definition.name(), value, context)
            elif isinstance(definition, QgsProcessingParameterFeatureSource):
                hold_gdal_layer(value, context, QgsVectorLayer)
                message = self._unreadable(check_vector, QgsVectorLayer, definition.name(), value, context)
            elif isinstance(definition, QgsProcessingParameterFile):
                message = _wrong_file(definition, value)
            if message:
                return False, message
        try:   # what a number's own range cannot say: a manual threshold below 1 and given, a pixel size above 0
            RunParams(t1="T1", t2="T2",
                      threshold_method=self.parameterAsEnumString(parameters, self.THRESHOLD_METHOD, context),
                      threshold=self._optional_double(parameters, self.THRESHOLD, context),
                      pixel_size=self._optional_double(parameters, self.PIXEL_SIZE, context)).validate()
        except InputError as exc:
            return False, str(exc)
        return super().checkParameterValues(parameters, context)

    @staticmethod
    def _unreadable(check, kind, name: str, value, context) -> str | None:
        """Why a layer given as a path cannot be loaded as a `kind` layer (missing, empty, another kind of
        file, as `check` says); None if it can."""
        value = _given_text(value, context)
        if not value.strip():
            return None
        found = QgsProcessingUtils.mapLayerFromString(value, context)
        if isinstance(found, kind):
            return None
        if found is not None and not os.path.exists(value):   # a project's raster layer given as the AOI, say
            return tr("{name}: the layer '{layer}' is not a {kind} layer: choose a {kind} layer.").format(
                name=name, layer=found.name(), kind=tr("raster") if kind is QgsRasterLayer else tr("vector"))
        if not {"/", "\\"} & set(value) and not gdal_name(value) and not os.path.exists(value):   # a layer gone
            return tr("{name}: '{value}' is neither a layer of this project nor a file that exists: choose the layer "
                      "again, or give the file's path.").format(name=name, value=value)
        try:
            check(value, name)
        except InputError as exc:
            return str(exc)
        return None

    def _bands_text(self, parameters, name, context) -> str:
        """A band list as typed ("1,2"), or as a script gives it ([1, 2]), which QGIS read as no text: all bands."""
        value = parameters.get(name)
        if isinstance(value, list | tuple):
            return ",".join(str(band) for band in value)
        return self.parameterAsString(parameters, name, context)

    def _raster_path(self, parameters, name, context) -> str | None:
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:   # QGIS's batch table runs without checkParameterValues: a row's layer gone, a bad file
            self._refuse(self._unreadable(check_raster, QgsRasterLayer, name, parameters.get(name), context))
        try:
            source = raster_source(layer, name)
        except InputError as exc:
            raise QgsProcessingException(str(exc)) from exc
        return absolute_source(source) if source else None   # qgis_process takes a path relative to where it runs

    def _weights_path(self, parameters, context) -> str | None:
        path = self.parameterAsFile(parameters, self.VGG16, context)
        return absolute_source(path) if path else None   # stats.json's initial_weights names it

    @staticmethod
    def _refuse(message: str | None) -> None:
        if message:
            raise QgsProcessingException(message)

    def _vector_path(self, parameters, name, context, feedback) -> tuple[str | None, str | None]:
        """The layer's own file when GDAL reads it whole (so that every message names the analyst's file, and
        `file|layername=` is read by core.raster.vector_layer); else a copy of what was chosen as QGIS shows it (a
        scratch layer, unsaved edits, selected features only, a filtered layer), with the layer's name for messages
        and stats.json (RunParams.copied_layers)."""
        value = parameters.get(name)
        if value in (None, ""):
            return None, None
        layer = self.parameterAsVectorLayer(parameters, name, context)
        if layer is None and isinstance(value, QgsProcessingFeatureSourceDefinition):   # a script's (selected) source
            layer = QgsProcessingUtils.mapLayerFromString(_given_text(value, context), context)
        if layer is None:   # as for a raster (_raster_path); a selected source or a property of a layer gone too
            self._refuse(self._unreadable(check_vector, QgsVectorLayer, name, value, context))
        part = isinstance(value, QgsProcessingFeatureSourceDefinition) and (
            value.selectedFeaturesOnly or value.featureLimit != -1)
        own = vector_file(layer) if layer is not None and not part else None
        if own:
            return absolute_source(own), None   # qgis_process takes a path relative to where it runs
        if layer is not None and not part:   # QGIS gives a layer with unsaved edits as its file, which lacks them
            try:
                copy = write_gpkg(layer, QgsProcessingUtils.generateTempFilename(f"{name}.gpkg"), layer.crs())
            except OSError as exc:
                raise QgsProcessingException(str(exc)) from exc
        else:
            copy = self.parameterAsCompatibleSourceLayerPath(parameters, name, context, ["gpkg", "shp"], "gpkg",
                                                             feedback)
        if not copy:   # given, but nothing QGIS could read: the run would have mapped as if none was given
            raise QgsProcessingException(tr("{name}: '{value}' cannot be read as a vector layer: choose the layer "
                                            "again, or give the file's path.").format(
                name=name, value=_given_text(value, context)))
        if layer is None:
            return copy, None
        return copy, (tr("{layer}, selected features only").format(layer=layer.name())
                      if part and value.selectedFeaturesOnly else layer.name())

    def _flag(self, parameters, name, context) -> bool:
        """A yes/no value, with the words the batch table takes ("no", "off" are no, as "false" and "0")."""
        value = parameters.get(name)
        if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
        return self.parameterAsBool(parameters, name, context)

    def _optional_double(self, parameters, name, context) -> float | None:
        """An optional number: None when left empty or data-defined to NULL (parameterAsDouble gives 0 for both: a
        NODATA1 property evaluating to NULL made 0 the no-data value, a THRESHOLD one cut at 0)."""
        value = parameters.get(name)
        if isinstance(value, QgsProperty):
            value, _ = value.value(context.expressionContext(), None)
            if value is not None and value != "":
                try:
                    float(value)
                except (TypeError, ValueError) as exc:   # parameterAsDouble would give 0
                    raise QgsProcessingException(tr("{name}: its data-defined value is {value!r}, not a number; give "
                                                    "a number, or leave it empty.").format(name=name, value=value)) from exc
        if value is None or value == "":
            return None
        return self.parameterAsDouble(parameters, name, context)

    def _output(self, parameters, name, context) -> str | None:
        """The output's file; a database table or memory layer, which QGIS's own algorithms take as a destination
        (`ogr:dbname='x.gpkg' table="t"`, `memory:`), is refused as such: "give a name ending in .gpkg" read as if
        the GeoPackage named were wrong."""
        value = self.parameterAsOutputLayer(parameters, name, context)
        if value and value.split(":", 1)[0] in NOT_FILES:
            raise QgsProcessingException(tr("{name}: '{value}' is a database table or memory layer; the engine writes "
                                            "files only: give a file name (GeoTIFF .tif for rasters, GeoPackage .gpkg "
                                            "for polygons).").format(name=name, value=value))
        return value or None

    def run_params(self, parameters, context, feedback) -> RunParams:
        """Translate Processing parameters into the engine's one parameter object."""
        parameters = named_choices(self, parameters)
        (samples, samples_layer), (aoi, aoi_layer) = (self._vector_path(parameters, name, context, feedback)
                                                      for name in (self.SAMPLES, self.AOI))
        # messages and stats.json name the analyst's layer, not QGIS's temporary copy
        copied = {key: layer for key, layer in (("samples", samples_layer), ("aoi", aoi_layer)) if layer}
        return RunParams(
            t1=self._raster_path(parameters, self.T1, context),
            t2=self._raster_path(parameters, self.T2, context),
            reference=self._raster_path(parameters, self.REFERENCE, context),
            samples=samples,
            extend_from_samples=self._flag(parameters, self.EXTEND, context),
            aoi=aoi,
            copied_layers=copied or None,
            bands1=_band_list(self._bands_text(parameters, self.BANDS1, context), tr("T1 bands")),
            bands2=_band_list(self._bands_text(parameters, self.BANDS2, context), tr("T2 bands")),
            grid=self.parameterAsEnumString(parameters, self.GRID, context),
            pixel_size=self._optional_double(parameters, self.PIXEL_SIZE, context),
            nodata1=self._optional_double(parameters, self.NODATA1, context),
            nodata2=self._optional_double(parameters, self.NODATA2, context),
            same_grid=self._flag(parameters, self.SAME_GRID, context),
            coregister=self._flag(parameters, self.COREGISTER, context),
            one_kind=self._flag(parameters, self.ONE_KIND, context),
            mask_clouds=self._flag(parameters, self.MASK_CLOUDS, context),
            mode=self.parameterAsEnumString(parameters, self.MODE, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
            prune=self._flag(parameters, self.PRUNE, context),
            threshold_method=self.parameterAsEnumString(parameters, self.THRESHOLD_METHOD, context),
            threshold=self._optional_double(parameters, self.THRESHOLD, context),
            vgg16=self._weights_path(parameters, context),
            min_polygon_area=self.parameterAsDouble(parameters, self.MIN_AREA, context),
            out_change=self._output(parameters, self.OUTPUT_CHANGE, context),
            out_difference=self._output(parameters, self.OUTPUT_DIFFERENCE, context),
            out_confidence=self._output(parameters, self.OUTPUT_CONFIDENCE, context),
            out_polygons=self._output(parameters, self.OUTPUT_POLYGONS, context),
            out_stats=self.parameterAsFileOutput(parameters, self.OUTPUT_STATS, context) or None,
        )

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS's name)
        from ..task import torch_missing_message

        message = torch_missing_message()
        if message:
            raise QgsProcessingException(message)
        from ..core.pipeline import run  # torch is imported only when a run starts

        params = self.run_params(parameters, context, feedback)
        progress = Progress(report=lambda fraction, message: (feedback.setProgress(100.0 * fraction),
                                                               message and feedback.setProgressText(message)),
                            is_cancelled=feedback.isCanceled)
        known = {definition.name() for definition in self.parameterDefinitions()}
        warnings = [tr("{name} is not a parameter of this algorithm: it was ignored.").format(name=name)
                    for name in sorted(set(parameters) - known)] + params.warnings()   # e.g. DEVICE=cuda
        for line in warnings:           # before the run, where the analyst sees them while it works
            feedback.pushWarning(line)
        try:
            with ctrl_c_cancels(feedback), cancelled_on_unload(feedback):
                result = run(params, progress)
        except OaipError as exc:
            raise QgsProcessingException(named_as_layers(str(exc), params)) from exc
        for line in result.log:
            if line not in warnings:
                feedback.pushInfo(named_as_layers(line, params))
        outputs = {"change": params.out_change, "difference": params.out_difference,
                   "confidence": params.out_confidence, "polygons": params.out_polygons}
        style_files(outputs)
        style_when_loaded(context, outputs)
        return {
            self.OUTPUT_CHANGE: params.out_change,
            self.OUTPUT_DIFFERENCE: params.out_difference,
            self.OUTPUT_CONFIDENCE: params.out_confidence,
            self.OUTPUT_POLYGONS: params.out_polygons,
            self.OUTPUT_STATS: params.out_stats,
        }
