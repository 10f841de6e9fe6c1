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


def run_table(rows: str, tmp_path: Path, monkeypatch) -> tuple[int, dict | None, str, Path]:
    """oaip:batchdetect on a CSV table of the given rows (after the header), one local worker, prior mode."""
    monkeypatch.setattr(qgis_headless, "ALGORITHM", "oaip:batchdetect")
    table = tmp_path / "pairs.csv"
    table.write_text(rows, encoding="utf-8")
    out = tmp_path / "out"
    code, result, log = qgis_headless.run_algorithm(
        {"PAIRS": table, "WORKERS": 1, "MODE": "prior", "OUTPUT_FOLDER": out}, profile=tmp_path / "profile",
        timeout=600)
    return code, result, log, out


def test_batch_through_qgis_process(sample_pair, tmp_path, monkeypatch):
    code, result, log, out = run_table(
        f"name,t1,t2,reference\nsite,{sample_pair['t1']},{sample_pair['t2']},{sample_pair['truth']}\n",
        tmp_path, monkeypatch)
    assert code == 0, log
    assert result["results"]["DONE"] == 1 and result["results"]["FAILED"] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"][0]["status"] == "done" and summary["pairs"][0]["kappa"] > 0.3
    assert (out / "site" / "change.tif").exists()


def test_a_failed_pair_makes_qgis_process_exit_non_zero(sample_pair, tmp_path, monkeypatch):
    """A script reads only the exit status: a failed pair must show there, the pair done keeps its outputs."""
    from osgeo import gdal

    far = tmp_path / "far.tif"
    gdal.Translate(str(far), str(sample_pair["t2"]), outputBounds=[500000.0, 4000100.0, 500100.0, 4000000.0],
                   outputSRS="EPSG:32633", width=20, height=20)
    code, _, log, out = run_table(f"name,t1,t2\nsite,{sample_pair['t1']},{sample_pair['t2']}\n"
                                  f"nowhere,{sample_pair['t1']},{far}\n", tmp_path, monkeypatch)
    assert code != 0, log
    assert "1 of 2 pair(s) failed" in log and "do not overlap" in log
    statuses = {p["name"]: p["status"] for p in json.loads((out / "summary.json").read_text())["pairs"]}
    assert statuses == {"site": "done", "nowhere": "failed"}
    assert (out / "site" / "change.tif").exists()
