"""oaip:batchdetect through qgis_process: inside the application sys.executable is qgis_process itself, so the
local Dask cluster's worker processes must start with the Python that QGIS embeds."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import qgis_headless  # noqa: E402

pytestmark = pytest.mark.skipif(not Path(qgis_headless.QGIS_PROCESS).exists(),
                                reason="qgis_process.bin is not installed")
pytest.importorskip("distributed")


def test_batch_through_qgis_process(sample_pair, tmp_path, monkeypatch):
    monkeypatch.setattr(qgis_headless, "ALGORITHM", "oaip:batchdetect")
    table = tmp_path / "pairs.csv"
    table.write_text(f"name,t1,t2,reference\nsite,{sample_pair['t1']},{sample_pair['t2']},{sample_pair['truth']}\n",
                     encoding="utf-8")
    out = tmp_path / "out"
    code, result, log = qgis_headless.run_algorithm(
        {"PAIRS": table, "WORKERS": 1, "MODE": "prior", "OUTPUT_FOLDER": out}, profile=tmp_path / "profile",
        timeout=600)
    assert code == 0, log
    assert result["results"]["DONE"] == 1 and result["results"]["FAILED"] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"][0]["status"] == "done" and summary["pairs"][0]["kappa"] > 0.3
    assert (out / "site" / "change.tif").exists()
