"""`oaip:batchdetect`: every pair of a table on Dask from the toolbox; the summary layer is loaded at the end.

A thin front end over core.batch.run_batch (the same run as `make batch`): Processing runs it in a
background task, the progress bar follows the pairs, Cancel stops the pairs not yet finished.
"""
from __future__ import annotations

import importlib.util
import os
import re

from qgis.core import (
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsRendererCategory,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP
from qgis.PyQt.QtGui import QIcon

from ..core.batch.table import CSV_SUFFIXES, assignments
from ..core.errors import Cancelled, OaipError
from ..core.params import MODES
from ..core.progress import Progress
from ..i18n import tr
from ..identity import icon, tag_words
from .choices import named_choices
from .interrupt import cancelled_on_unload, ctrl_c_cancels
from .styling import held
from .value_checks import value_sentence

DASK_PACKAGES = "dask==2026.8.0 distributed==2026.8.0"  # as in requirements.txt
TABLES = (*CSV_SUFFIXES, ".gpkg")   # what the engine reads as a table of pairs (core.batch.table)
STATUS_COLOURS = {"done": "46,160,67", "skipped": "120,144,156", "failed": "230,0,38"}
STATUS_LABELS = {"done": QT_TRANSLATE_NOOP("OAIP", "done"), "skipped": QT_TRANSLATE_NOOP("OAIP", "skipped"),
                 "failed": QT_TRANSLATE_NOOP("OAIP", "failed")}   # the legend, through tr()


class StatusStyle(QgsProcessingLayerPostProcessorInterface):
    """The summary layer by status: done green, skipped grey, failed red; footprints half transparent."""

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802 (QGIS's name)
        categories = []
        for status, colour in STATUS_COLOURS.items():
            symbol = QgsFillSymbol.createSimple({"color": f"{colour},90", "outline_color": f"{colour},255",
                                                 "outline_width": "0.6"})
            categories.append(QgsRendererCategory(status, symbol, tr(STATUS_LABELS[status])))
        layer.setRenderer(QgsCategorizedSymbolRenderer("status", categories))
        layer.triggerRepaint()


# Whitespace before another NAME= and outside double quotes: where `make batch`'s form puts one item after another.
NEXT_ITEM = re.compile(r'\s+(?=[A-Za-z_]\w*=)(?=(?:[^"]*"[^"]*")*[^"]*$)')


def _defaults(text: str) -> dict[str, str]:
    """'seed=1; epochs=8' as run parameters for every row; 'seed=1 epochs=8', as `make batch` takes PARAMS, too.
    A value may be quoted ("my area.gpkg") and keeps its backslashes (C:\\data\\aoi.gpkg: QGIS on Windows)."""
    items = [item for part in (text or "").replace("\n", ";").split(";") for item in NEXT_ITEM.split(part.strip())
             if item]
    try:
        values = assignments(items, tr("Other parameters (separated by ';')"))
    except OaipError as exc:
        raise QgsProcessingException(str(exc)) from exc
    return {key: value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value
            for key, value in values.items()}


class BatchDetectAlgorithm(QgsProcessingAlgorithm):
    PAIRS = "PAIRS"
    LAYER = "LAYER"
    SCHEDULER = "SCHEDULER"
    WORKERS = "WORKERS"
    MODE = "MODE"
    FORCE = "FORCE"
    PARAMS = "PARAMS"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    OUTPUT_SUMMARY = "OUTPUT_SUMMARY"
    OUTPUT_JSON = "OUTPUT_JSON"
    DONE, SKIPPED, FAILED = "DONE", "SKIPPED", "FAILED"

    def name(self) -> str:
        return "batchdetect"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return tr("Detect changes for a table of pairs")

    def group(self) -> str:
        return tr("Change detection")

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return "changedetection"

    def tags(self) -> list[str]:
        return list(dict.fromkeys([*tag_words(), "batch", "table", tr("batch"), tr("table"), "Dask"]))

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return tr(
            "Runs the change detector on every pair of a table, each pair as one task on Dask: by default on a "
            "local cluster started for the run (one worker per core, or the number of workers you give), or on "
            "a running Dask cluster when you give its scheduler's address (its workers started with "
            "--resources pair=1).\n"
            "The table is a CSV file or a GeoPackage layer with the columns t1 and t2 (image paths or GDAL /vsi "
            "paths; relative paths start at the table's folder) and optionally name, reference, aoi, samples "
            "and any run parameter (mode, seed, epochs, threshold_method, …); the table is checked completely "
            "before any work starts.\n"
            "Each pair's outputs go to its own sub-folder of the output folder (change.tif, difference.tif, "
            "confidence.tif, changes.gpkg, stats.json), written completely or not at all. A pair that fails is "
            "recorded with its "
            "message and the others go on; a re-run skips the pairs whose outputs are complete unless "
            "'Run finished pairs again' is on. The summary layer (one footprint per pair with its status, "
            "error, changed area and fraction, threshold, mode, seconds and Kappa) is loaded at the end.\n"
            "Run headless (qgis_process), the run ends in an error, exit status 1, when a pair failed, so that a "
            "script sees it; the pairs done keep their outputs and the summary is written all the same.\n"
            "From a Python script of your own, keep its code under if __name__ == \"__main__\": each local Dask "
            "worker runs the script's top level again as it starts.")

    def icon(self) -> QIcon:
        return icon()

    def createInstance(self) -> BatchDetectAlgorithm:  # noqa: N802 (QGIS's name)
        return BatchDetectAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterFile(
            self.PAIRS, tr("Table of pairs (CSV or GeoPackage)"),
            fileFilter=tr("Tables of pairs ({patterns})").format(
                patterns=" ".join(f"*{suffix} *{suffix.upper()}" for suffix in TABLES))))
        self.addParameter(QgsProcessingParameterString(
            self.SCHEDULER, tr("Dask scheduler address (e.g. tcp://host:8786; empty: a local cluster)"),
            optional=True, defaultValue=""))
        self.addParameter(QgsProcessingParameterNumber(
            self.WORKERS, tr("Local cluster's workers (empty: one per core)"), optional=True, minValue=1))
        self.addParameter(QgsProcessingParameterEnum(
            self.MODE, tr("Mode for pairs without a 'mode' cell"), options=list(MODES), defaultValue=MODES[0],
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.FORCE, tr("Run finished pairs again"), defaultValue=False))
        for parameter in (
                QgsProcessingParameterString(self.LAYER, tr("GeoPackage layer (empty: the first)"),
                                             optional=True, defaultValue=""),
                QgsProcessingParameterString(self.PARAMS, tr("Other parameters for every row "
                                                             "(NAME=VALUE; NAME=VALUE, e.g. seed=1; epochs=8)"),
                                             optional=True, defaultValue="")):
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, tr("Output folder")))
        self.addOutput(QgsProcessingOutputVectorLayer(self.OUTPUT_SUMMARY, tr("Summary of the pairs")))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_JSON, tr("Summary (JSON)")))
        for name, label in ((self.DONE, tr("Pairs done")), (self.SKIPPED, tr("Pairs skipped")),
                            (self.FAILED, tr("Pairs failed"))):
            self.addOutput(QgsProcessingOutputNumber(name, label))

    def checkParameterValues(self, parameters, context):  # noqa: N802 (QGIS's name)
        """QGIS's own check, with the mode also taken by its number, as qgis_process's help offers, and a sentence
        naming the value and what is allowed where QGIS said "Incorrect parameter value" (WORKERS=0) or took it
        wrongly (WORKERS=1.5 started two)."""
        parameters = named_choices(self, parameters)
        for definition in self.parameterDefinitions():
            message = value_sentence(definition, parameters.get(definition.name()))
            if message:
                return False, message
        table = parameters.get(self.PAIRS)   # QGIS said "Incorrect parameter value for PAIRS" of both
        if isinstance(table, str) and table.strip():
            if not os.path.isfile(table):
                return False, tr("PAIRS: '{path}' is not a file: give the table of pairs.").format(path=table)
            if not table.lower().endswith(TABLES):
                return False, tr("PAIRS: '{path}' is not a table of pairs: give a CSV file ({csv}) or a GeoPackage "
                                 "(.gpkg).").format(path=table, csv=", ".join(CSV_SUFFIXES))
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS's name)
        from ..task import torch_missing_message

        for missing in (torch_missing_message(), self._dask_missing_message()):
            if missing:
                raise QgsProcessingException(missing)
        from ..core.batch import run_batch
        from ..core.batch.runner import EchoLog

        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        parameters = named_choices(self, parameters)
        defaults = {"mode": self.parameterAsEnumString(parameters, self.MODE, context),
                    **_defaults(self.parameterAsString(parameters, self.PARAMS, context))}
        workers = (self.parameterAsInt(parameters, self.WORKERS, context)
                   if parameters.get(self.WORKERS) not in (None, "") else None)
        progress = Progress(report=lambda fraction, message: (feedback.setProgress(100.0 * fraction),
                                                               message and feedback.setProgressText(message)),
                            is_cancelled=feedback.isCanceled, log=EchoLog(feedback.pushInfo))
        try:
            with ctrl_c_cancels(feedback), cancelled_on_unload(feedback):
                scheduler = self.parameterAsString(parameters, self.SCHEDULER, context).strip() or None
                layer = self.parameterAsString(parameters, self.LAYER, context) or None
                result = run_batch(self.parameterAsFile(parameters, self.PAIRS, context), out, scheduler=scheduler,
                                   workers=workers, force=self.parameterAsBool(parameters, self.FORCE, context),
                                   defaults=defaults, layer=layer, progress=progress)
        except Cancelled as exc:
            raise QgsProcessingException(tr("Cancelled: the pairs that finished keep their outputs; run again "
                                            "to do the rest.")) from exc
        except OaipError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for record in result.records:
            if record["status"] == "failed":
                feedback.reportError(tr("{name}: {error}").format(name=record["name"], error=record["error"]))
        failed = result.count("failed")
        summary = tr("{pairs} pair(s): {done} done, {skipped} skipped, {failed} failed, in {seconds:.1f} s.")
        feedback.pushInfo(summary.format(pairs=len(result.records), done=result.count("done"),
                                         skipped=result.count("skipped"), failed=failed, seconds=result.elapsed))
        if failed and QgsApplication.platform() == "qgis_process":   # a script sees the exit status only
            raise QgsProcessingException(tr(
                "{failed} of {pairs} pair(s) failed (their messages are above); the pairs done keep their outputs "
                "and the summary of all is in {summary}.").format(failed=failed, pairs=len(result.records),
                                                                  summary=result.summary_json))
        layer = f"{result.summary_gpkg}|layername=pairs"
        details = QgsProcessingContext.LayerDetails(tr("Pairs (batch summary)"), context.project(),
                                                    self.OUTPUT_SUMMARY)
        context.addLayerToLoadOnCompletion(layer, details)
        context.layerToLoadOnCompletionDetails(layer).setPostProcessor(held(StatusStyle()))
        return {self.OUTPUT_SUMMARY: layer, self.OUTPUT_JSON: result.summary_json, self.OUTPUT_FOLDER: out,
                self.DONE: result.count("done"), self.SKIPPED: result.count("skipped"), self.FAILED: failed}

    def _dask_missing_message(self) -> str | None:
        from ..task import user_install_command

        if importlib.util.find_spec("distributed") is not None:
            return None
        command = user_install_command(DASK_PACKAGES)
        return tr("Batch runs need Dask, which is not installed in the Python that QGIS uses. Install it "
                  "from a terminal with:\n    {command}\nthen restart QGIS.").format(command=command)
