"""`oaip:batchdetect` inside QGIS (pytest-qgis, offscreen): registered, runs a table on its own local Dask
cluster (worker processes started from QGIS), reports the broken pair, queues the styled summary layer, and
refuses a bad table clearly. Skipping finished pairs is tested in tests/core/test_batch.py."""
from __future__ import annotations

import numpy as np
import pytest
from qgis.core import (
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)

from tests.helpers import make_raster

pytest.importorskip("distributed")
ALG = "oaip:batchdetect"


def test_batch_algorithm_runs_the_table_and_loads_a_styled_summary(provider, sample_pair, tmp_path):
    far = make_raster(tmp_path / "far.tif", np.ones((16, 16)), origin=(500000.0, 4000000.0))
    table = tmp_path / "pairs.csv"
    table.write_text("name,t1,t2\n"
                     f"flood,{sample_pair['t1']},{sample_pair['t2']}\n"
                     f"nowhere,{sample_pair['t1']},{far}\n", encoding="utf-8")
    import processing

    assert QgsApplication.processingRegistry().algorithmById(ALG).displayName() == \
        "Detect changes for a table of pairs"
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    parameters = {"PAIRS": str(table), "WORKERS": 1, "MODE": "prior", "OUTPUT_FOLDER": str(tmp_path / "out")}
    results = processing.run(ALG, parameters, context=context, feedback=feedback)
    assert (results["DONE"], results["SKIPPED"], results["FAILED"]) == (1, 0, 1)
    assert "Dask dashboard: http" in feedback.textLog()
    assert (tmp_path / "out" / "flood" / "change.tif").exists()

    summary = results["OUTPUT_SUMMARY"]
    assert context.willLoadLayerOnCompletion(summary)
    layer = QgsVectorLayer(summary, "pairs", "ogr")
    assert layer.isValid() and layer.featureCount() == 2
    by_name = {f["name"]: f for f in layer.getFeatures()}
    assert by_name["flood"]["status"] == "done" and by_name["nowhere"]["status"] == "failed"
    assert "do not overlap" in by_name["nowhere"]["error"]
    assert layer.crs().authid() == "EPSG:4326" and not by_name["flood"].geometry().isEmpty()
    details = context.layerToLoadOnCompletionDetails(summary)
    details.postProcessor().postProcessLayer(layer, context, feedback)
    assert isinstance(layer.renderer(), QgsCategorizedSymbolRenderer)
    assert {c.value() for c in layer.renderer().categories()} == {"done", "skipped", "failed"}


def test_bad_table_is_one_clear_message(provider, sample_pair, tmp_path):
    import processing

    table = tmp_path / "pairs.csv"
    table.write_text(f"t1,t2,colour\n{sample_pair['t1']},{sample_pair['t2']},red\n", encoding="utf-8")
    with pytest.raises(QgsProcessingException, match="unknown column or parameter 'colour'"):
        processing.run(ALG, {"PAIRS": str(table), "OUTPUT_FOLDER": str(tmp_path / "out")})
    with pytest.raises(QgsProcessingException, match="NAME=VALUE"):
        processing.run(ALG, {"PAIRS": str(table), "PARAMS": "seed", "OUTPUT_FOLDER": str(tmp_path / "out")})


@pytest.mark.parametrize("name, value, shown", [
    ("WORKERS", 0, r"WORKERS \(.*\) must be 1 or more, not 0"),
    ("WORKERS", 1.5, "must be a whole number 1 or more, not 1.5"),   # it started two workers
    ("MODE", "3", "MODE .* must be one of"),
])
def test_a_value_out_of_its_range_is_named_with_the_range(provider, sample_pair, tmp_path, name, value, shown):
    """QGIS said only "Incorrect parameter value for WORKERS"."""
    import processing

    table = tmp_path / "pairs.csv"
    table.write_text(f"t1,t2\n{sample_pair['t1']},{sample_pair['t2']}\n", encoding="utf-8")
    with pytest.raises(QgsProcessingException, match=shown):
        processing.run(ALG, {"PAIRS": str(table), name: value, "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert not (tmp_path / "out").exists()


def test_a_table_the_engine_reads_is_taken_and_another_file_named(provider, sample_pair, tmp_path):
    """A .txt or .tsv table, which `make batch` reads, and a raster given as the table were both "Incorrect
    parameter value for PAIRS"; a batch refused for its cluster left the empty output folder it had made."""
    import processing

    table = tmp_path / "pairs.txt"
    table.write_text(f"t1,t2\n{sample_pair['t1']},{sample_pair['t2']}\n", encoding="utf-8")
    with pytest.raises(QgsProcessingException, match="No Dask scheduler answers at 'tcp://127.0.0.1:9'"):
        processing.run(ALG, {"PAIRS": str(table), "SCHEDULER": "tcp://127.0.0.1:9",
                             "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert not (tmp_path / "out").exists()
    for given, shown in ((sample_pair["t1"], "is not a table of pairs: give a CSV file"),
                         (str(tmp_path / "none.csv"), "is not a file")):
        with pytest.raises(QgsProcessingException, match=f"PAIRS: '.*' {shown}"):
            processing.run(ALG, {"PAIRS": given, "OUTPUT_FOLDER": str(tmp_path / "out")})


def test_other_parameters_take_semicolons_or_make_batch_s_spaces(qgis_app):
    """'seed=1 epochs=8', as `make batch` takes PARAMS, was read as seed = '1 epochs=8' and refused."""
    from oaip_qgis.processing.batch_detect import _defaults

    expected = {"seed": "1", "epochs": "8", "aoi": "my area.gpkg"}
    assert _defaults("seed=1; epochs=8; aoi=my area.gpkg") == expected
    assert _defaults('seed=1 epochs=8 aoi="my area.gpkg"') == expected
    assert _defaults("seed=1 epochs=8\naoi=my area.gpkg") == expected
    assert _defaults('aoi="my area.gpkg"; seed=1; epochs=8') == expected        # quotes go, alone too
    assert _defaults(r"aoi=C:\data\aoi.gpkg seed=1") == {"aoi": r"C:\data\aoi.gpkg", "seed": "1"}   # Windows


def test_without_dask_the_message_gives_the_install_command(provider, sample_pair, tmp_path, monkeypatch):
    import importlib.util

    import processing

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed"
                        else find_spec(name, *a))
    table = tmp_path / "pairs.csv"
    table.write_text(f"t1,t2\n{sample_pair['t1']},{sample_pair['t2']}\n", encoding="utf-8")
    with pytest.raises(QgsProcessingException, match=r"(?s)need Dask.*pip install --user.*dask==2026\.8\.0"):
        processing.run(ALG, {"PAIRS": str(table), "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert not (tmp_path / "out").exists()
