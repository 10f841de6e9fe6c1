"""`oaip:detectchanges`: thin Processing front end that turns parameters into RunParams and runs the pipeline."""
from __future__ import annotations

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
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
)
from qgis.PyQt.QtGui import QIcon

from ..core.errors import OaipError
from ..core.params import DEVICES, GRIDS, MODES, THRESHOLD_METHODS, RunParams
from ..core.progress import Progress
from .styling import style_when_loaded

HELP = """Finds what changed between two co-located rasters from different sensors (optical vs SAR, or two optical sensors), with no labels.
The second image is warped onto the first image's grid (or the grid you choose) and cropped to the overlap. A structural prior on block means (each image's self-similarity, compared across the two sensors) ranks the places most and least likely to have changed; in int8 or fp32 mode a dual-VGG detector is fine-tuned on those pseudo-labels (int8: all-integer training with adaptive filter pruning) and the difference image mixes the network (0.25) with the prior (0.75); MODE=prior uses the prior alone.
Outputs: a change raster (1 changed, 0 unchanged, 255 nodata), a difference image (change probability 0..1), a confidence raster, change polygons, and a statistics JSON file (threshold, changed fraction, timing, model size and BOPs, and accuracy when a reference mask is given).
Bands are 1-based lists such as 1,2,3; empty means all bands."""


def _band_list(text: str, name: str) -> list[int] | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError as exc:
        raise QgsProcessingException(f"{name}: band list must be integers separated by commas, not {text!r}.") from exc


class DetectChangesAlgorithm(QgsProcessingAlgorithm):
    T1 = "T1"
    T2 = "T2"
    REFERENCE = "REFERENCE"
    SAMPLES = "SAMPLES"
    AOI = "AOI"
    BANDS1 = "BANDS1"
    BANDS2 = "BANDS2"
    GRID = "GRID"
    PIXEL_SIZE = "PIXEL_SIZE"
    NODATA1 = "NODATA1"
    NODATA2 = "NODATA2"
    SAME_GRID = "SAME_GRID"
    MODE = "MODE"
    SEED = "SEED"
    EPOCHS = "EPOCHS"
    PRUNE = "PRUNE"
    THRESHOLD_METHOD = "THRESHOLD_METHOD"
    THRESHOLD = "THRESHOLD"
    DEVICE = "DEVICE"
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
        return "Detect changes (heterogeneous pair, OAIP)"

    def group(self) -> str:
        return "Change detection"

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return "changedetection"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return HELP

    def icon(self) -> QIcon:
        return QIcon(os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "icon.svg"))

    def createInstance(self) -> DetectChangesAlgorithm:  # noqa: N802 (QGIS's name)
        return DetectChangesAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        defaults = RunParams(t1="", t2="")
        self.addParameter(QgsProcessingParameterRasterLayer(self.T1, "Image before (T1)"))
        self.addParameter(QgsProcessingParameterRasterLayer(self.T2, "Image after (T2)"))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.REFERENCE, "Reference change mask (1 changed, 0 unchanged) for accuracy", optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.SAMPLES, "Analyst samples (points or polygons with a 0/1 field 'changed')",
            [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.AOI, "Area of interest", [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterString(self.BANDS1, "T1 bands (e.g. 1,2,3; empty: all)",
                                                       optional=True, defaultValue=""))
        self.addParameter(QgsProcessingParameterString(self.BANDS2, "T2 bands (e.g. 1; empty: all)",
                                                       optional=True, defaultValue=""))
        self.addParameter(QgsProcessingParameterEnum(self.GRID, "Output grid from", options=list(GRIDS),
                                                     defaultValue=defaults.grid, usesStaticStrings=True))
        for parameter in (
            QgsProcessingParameterNumber(self.PIXEL_SIZE, "Output pixel size (grid's CRS units; empty: the grid's own)",
                                         type=QgsProcessingParameterNumber.Double, optional=True, minValue=0.0),
            QgsProcessingParameterNumber(self.NODATA1, "T1 nodata value (empty: from the file)",
                                         type=QgsProcessingParameterNumber.Double, optional=True),
            QgsProcessingParameterNumber(self.NODATA2, "T2 nodata value (empty: from the file)",
                                         type=QgsProcessingParameterNumber.Double, optional=True),
            QgsProcessingParameterBoolean(self.SAME_GRID, "Images without CRS share one grid",
                                          defaultValue=defaults.same_grid)):
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterEnum(self.MODE, "Mode", options=list(MODES),
                                                     defaultValue=defaults.mode, usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(self.SEED, "Random seed", defaultValue=defaults.seed,
                                                       minValue=0))
        self.addParameter(QgsProcessingParameterNumber(self.EPOCHS, "Training epochs",
                                                       defaultValue=defaults.epochs, minValue=0, maxValue=100))
        self.addParameter(QgsProcessingParameterBoolean(self.PRUNE, "Prune filters during training",
                                                        defaultValue=defaults.prune))
        self.addParameter(QgsProcessingParameterEnum(self.THRESHOLD_METHOD, "Threshold method",
                                                     options=list(THRESHOLD_METHODS),
                                                     defaultValue=defaults.threshold_method,
                                                     usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(self.THRESHOLD, "Manual threshold (0..1)",
                                                       type=QgsProcessingParameterNumber.Double,
                                                       optional=True, minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterEnum(self.DEVICE, "Device", options=list(DEVICES),
                                                     defaultValue=defaults.device, usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterFile(
            self.VGG16, "Initial weights: torchvision vgg16 state_dict (.pth; empty: seeded)",
            extension="pth", optional=True))
        self.addParameter(QgsProcessingParameterNumber(self.MIN_AREA, "Minimum change polygon area (m²)",
                                                       type=QgsProcessingParameterNumber.Double,
                                                       defaultValue=defaults.min_polygon_area, minValue=0.0))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT_CHANGE, "Change"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_DIFFERENCE, "Difference image (change probability)", optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_CONFIDENCE, "Confidence", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT_POLYGONS, "Change polygons", QgsProcessing.TypeVectorPolygon, optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_STATS, "Statistics", "JSON files (*.json)", optional=True))

    def _raster_path(self, parameters, name, context) -> str | None:
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            return None
        if layer.providerType() != "gdal":
            raise QgsProcessingException(f"{name}: layer '{layer.name()}' is not a file-based (GDAL) raster.")
        return layer.source()

    def _vector_path(self, parameters, name, context, feedback) -> str | None:
        if parameters.get(name) in (None, ""):
            return None
        return self.parameterAsCompatibleSourceLayerPath(parameters, name, context, ["gpkg", "shp"], "gpkg", feedback)

    def _optional_double(self, parameters, name, context) -> float | None:
        """An optional number: None when left empty (parameterAsDouble would give 0)."""
        if parameters.get(name) in (None, ""):
            return None
        return self.parameterAsDouble(parameters, name, context)

    def _output(self, parameters, name, context) -> str | None:
        value = self.parameterAsOutputLayer(parameters, name, context)
        return value or None

    def run_params(self, parameters, context, feedback) -> RunParams:
        """Translate Processing parameters into the engine's one parameter object."""
        return RunParams(
            t1=self._raster_path(parameters, self.T1, context),
            t2=self._raster_path(parameters, self.T2, context),
            reference=self._raster_path(parameters, self.REFERENCE, context),
            samples=self._vector_path(parameters, self.SAMPLES, context, feedback),
            aoi=self._vector_path(parameters, self.AOI, context, feedback),
            bands1=_band_list(self.parameterAsString(parameters, self.BANDS1, context), "T1 bands"),
            bands2=_band_list(self.parameterAsString(parameters, self.BANDS2, context), "T2 bands"),
            grid=self.parameterAsEnumString(parameters, self.GRID, context),
            pixel_size=self._optional_double(parameters, self.PIXEL_SIZE, context),
            nodata1=self._optional_double(parameters, self.NODATA1, context),
            nodata2=self._optional_double(parameters, self.NODATA2, context),
            same_grid=self.parameterAsBool(parameters, self.SAME_GRID, context),
            mode=self.parameterAsEnumString(parameters, self.MODE, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
            prune=self.parameterAsBool(parameters, self.PRUNE, context),
            threshold_method=self.parameterAsEnumString(parameters, self.THRESHOLD_METHOD, context),
            threshold=self._optional_double(parameters, self.THRESHOLD, context),
            device=self.parameterAsEnumString(parameters, self.DEVICE, context),
            vgg16=self.parameterAsFile(parameters, self.VGG16, context) or None,
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
        try:
            result = run(params, progress)
        except OaipError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for line in result.log:
            feedback.pushInfo(line)
        style_when_loaded(context, {"change": params.out_change, "difference": params.out_difference,
                                    "confidence": params.out_confidence, "polygons": params.out_polygons})
        return {
            self.OUTPUT_CHANGE: params.out_change,
            self.OUTPUT_DIFFERENCE: params.out_difference,
            self.OUTPUT_CONFIDENCE: params.out_confidence,
            self.OUTPUT_POLYGONS: params.out_polygons,
            self.OUTPUT_STATS: params.out_stats,
        }
