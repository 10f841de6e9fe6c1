"""Outputs loaded by the Processing toolbox get the dock's styles (red change over transparent, ramps,
red outlines) instead of QGIS's default grey, through layer post-processors."""
from __future__ import annotations

from qgis.core import QgsProcessingContext, QgsProcessingLayerPostProcessorInterface
from qgis.PyQt import sip

from ..layers import style_output


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802 (QGIS's name)
        style_output(self.kind, layer)


# A context owns its layers' post-processors and deletes them with itself, so each run needs its own (one
# shared by every run was a deleted object from the second run on, and that run failed after all its work).
# QGIS holds them by C++ pointer: their Python side is kept here until QGIS has deleted them.
_HELD: list[QgsProcessingLayerPostProcessorInterface] = []


def held(processor: QgsProcessingLayerPostProcessorInterface) -> QgsProcessingLayerPostProcessorInterface:
    """`processor`, kept alive for as long as QGIS may call it; those QGIS has deleted are let go."""
    _HELD[:] = [kept for kept in _HELD if not sip.isdeleted(kept)]
    _HELD.append(processor)
    return processor


def style_when_loaded(context: QgsProcessingContext, outputs: dict[str, str | None]) -> None:
    """For each output (kind → path) that the toolbox will load, attach the matching style."""
    for kind, path in outputs.items():
        if path and context.willLoadLayerOnCompletion(path):
            context.layerToLoadOnCompletionDetails(path).setPostProcessor(held(StyleOnLoad(kind)))
