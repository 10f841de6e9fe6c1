"""Outputs loaded by the Processing toolbox get the dock's styles (red change over transparent, ramps,
red outlines) instead of QGIS's default grey, through layer post-processors."""
from __future__ import annotations

from qgis.core import QgsProcessingContext, QgsProcessingLayerPostProcessorInterface

from ..layers import style_output


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802 (QGIS's name)
        style_output(self.kind, layer)


# QGIS holds post-processors by C++ pointer only: the Python objects must outlive the run. They are
# stateless, so one per kind serves every run.
_PROCESSORS: dict[str, StyleOnLoad] = {}


def style_when_loaded(context: QgsProcessingContext, outputs: dict[str, str | None]) -> None:
    """For each output (kind → path) that the toolbox will load, attach the matching style."""
    for kind, path in outputs.items():
        if path and context.willLoadLayerOnCompletion(path):
            processor = _PROCESSORS.setdefault(kind, StyleOnLoad(kind))
            context.layerToLoadOnCompletionDetails(path).setPostProcessor(processor)
