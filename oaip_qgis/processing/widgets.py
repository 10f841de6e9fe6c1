"""Dialog widgets for the algorithm's parameters, loaded by the Processing dialog only (never by
qgis_process): the module imports QGIS's processing GUI, which exists only where that plugin runs."""
from __future__ import annotations

from processing.gui.wrappers import DIALOG_MODELER, DIALOG_STANDARD, RasterWidgetWrapper, dialogTypes
from qgis.core import QgsProject, QgsRasterLayer
from qgis.gui import QgsGui


class OtherRasterWidgetWrapper(RasterWidgetWrapper):
    """A raster layer box that starts on another layer than its partner's (metadata "other_layer": its name).

    The dialog starts every required layer box on the current layer, so T1 and T2 would both show the
    same image; T2 starts on the next raster layer instead, as the panel does. Only the starting value:
    the analyst may still choose the same layer for both.
    """

    def __new__(cls, param, dialog, row=0, col=0, **kwargs):
        """QGIS's own layer box in the model designer and the batch table, where no box starts on the current
        layer: QGIS builds this Python wrapper in every dialog, and its deprecated box there started T2 on T1's
        model input and left a batch row's T2 empty."""
        kind = dialogTypes.get(dialog.__class__.__name__, DIALOG_STANDARD)
        if kind == DIALOG_STANDARD:
            return super().__new__(cls)
        registry = QgsGui.processingGuiRegistry()
        wrapper = (registry.createModelerParameterWidget(dialog.model, dialog.childId, param, dialog.context)
                   if kind == DIALOG_MODELER else registry.createParameterWidgetWrapper(param, kind))
        wrapper.setDialog(dialog)
        return wrapper

    def postInitialize(self, wrappers) -> None:  # noqa: N802 (QGIS's name)
        super().postInitialize(wrappers)
        other_name = self.parameterDefinition().metadata().get("other_layer")
        other = next((w for w in wrappers if w.parameterDefinition().name() == other_name), None)
        if other is None:
            return
        taken = _layer_id(other.parameterValue())
        if taken is None or _layer_id(self.value()) != taken:
            return
        for node in QgsProject.instance().layerTreeRoot().findLayers():
            layer = node.layer()
            if isinstance(layer, QgsRasterLayer) and layer.id() != taken:
                self.setValue(layer)
                return


def _layer_id(value) -> str | None:
    """The layer id a layer box's value stands for (an id, a layer or a path)."""
    if value is None or value == "":
        return None
    if isinstance(value, QgsRasterLayer):
        return value.id()
    layer = QgsProject.instance().mapLayer(str(value))
    return layer.id() if layer is not None else str(value)
