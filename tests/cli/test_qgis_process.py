"""qgis_process end to end, with QGIS_PLUGINPATH and an isolated QGIS_CUSTOM_CONFIG_PATH."""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from package import build  # noqa: E402
from qgis_headless import QGIS_PROCESS, environment, run_algorithm  # noqa: E402

pytestmark = pytest.mark.skipif(not Path(QGIS_PROCESS).exists(), reason="qgis_process.bin is not installed")


def outputs(folder: Path) -> dict:
    return {"OUTPUT_CHANGE": folder / "change.tif", "OUTPUT_DIFFERENCE": folder / "difference.tif",
            "OUTPUT_STATS": folder / "stats.json"}


def test_qgis_process_runs_from_the_checkout(sample_pair, tmp_path):
    out = outputs(tmp_path)
    code, result, log = run_algorithm({"T1": sample_pair["t1"], "T2": sample_pair["t2"],
                                       "REFERENCE": sample_pair["truth"], "MODE": "prior", **out},
                                      profile=tmp_path / "profile")
    assert code == 0, log
    assert Path(result["results"]["OUTPUT_CHANGE"]) == out["OUTPUT_CHANGE"]
    stats = json.loads(out["OUTPUT_STATS"].read_text())
    for key in ("mode", "seed", "threshold", "changed_fraction", "metrics", "timing"):
        assert key in stats
    assert out["OUTPUT_CHANGE"].stat().st_size > 0


def test_qgis_process_rejects_a_file_that_is_not_a_raster(sample_pair, tmp_path):
    bogus = tmp_path / "notes.tif"
    bogus.write_text("not a raster")
    code, _, log = run_algorithm({"T1": bogus, "T2": sample_pair["t2"], "MODE": "prior",
                                  "OUTPUT_CHANGE": tmp_path / "c.tif"}, profile=tmp_path / "profile")
    assert code != 0
    assert "T1" in log
    assert not (tmp_path / "c.tif").exists()


def test_packaged_zip_installs_and_runs(sample_pair, tmp_path):
    archive = tmp_path / "oaip_qgis.zip"
    names = build(archive)
    assert "oaip_qgis/metadata.txt" in names and "oaip_qgis/core/pipeline.py" in names
    assert not any("__pycache__" in name for name in names)
    plugins = tmp_path / "plugins"
    zipfile.ZipFile(archive).extractall(plugins)
    assert not (plugins / "oaip_qgis" / "core").is_symlink()
    out = outputs(tmp_path)
    code, _, log = run_algorithm({"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior", **out},
                                 plugin_path=plugins, profile=tmp_path / "profile")
    assert code == 0, log
    assert out["OUTPUT_CHANGE"].exists()
    # the release that made the map, read from the installed plugin's metadata.txt as from the checkout's
    metadata = (plugins / "oaip_qgis" / "metadata.txt").read_text()
    assert f"version={json.loads(out['OUTPUT_STATS'].read_text())['release']}\n" in metadata


def test_qgis_process_finds_more_like_the_changed_samples(sample_pair, tmp_path):
    """EXTEND_FROM_SAMPLES headless: a boolean on the command line, the samples a GeoPackage."""
    import numpy as np
    from osgeo import gdal

    from tests.helpers import write_samples

    truth = gdal.Open(sample_pair["truth"])
    rows, cols = np.nonzero(truth.ReadAsArray() == 1)
    x0, dx, _, y0, _, dy = truth.GetGeoTransform()
    x, y = x0 + (cols[0] + 0.5) * dx, y0 + (rows[0] + 0.5) * dy   # one changed pixel's centre
    square = f"POLYGON (({x} {y}, {x + 2 * dx} {y}, {x + 2 * dx} {y + 2 * dy}, {x} {y + 2 * dy}, {x} {y}))"
    samples = write_samples(tmp_path / "drawn.gpkg", [(square, 1)], truth.GetSpatialRef())
    out = outputs(tmp_path)
    code, _, log = run_algorithm({"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "int8", "EPOCHS": 2,
                                  "SAMPLES": samples, "EXTEND_FROM_SAMPLES": "true", **out},
                                 profile=tmp_path / "profile")
    assert code == 0, log
    stats = json.loads(out["OUTPUT_STATS"].read_text())
    assert stats["extend_from_samples"] is True and stats["network_confirmation"]["extended"] is True


def test_ctrl_c_cancels_a_run_that_qgis_process_would_let_finish(tmp_path):
    """qgis_process --json (as `make detect`, `make demo` and `make batch` run it) ignores SIGINT, which plain
    qgis_process takes as a cancel: a Ctrl-C left a detection training for another minute and writing its map."""
    import signal
    import subprocess
    import time

    from oaip_qgis.core.sample_pair import make_sample_pair

    pair = make_sample_pair(tmp_path / "pair", size=400, seed=1)
    env = environment(REPO, tmp_path / "profile")
    subprocess.run([QGIS_PROCESS, "plugins", "enable", "oaip_qgis"], env=env, capture_output=True, timeout=300)
    change = tmp_path / "change.tif"
    arguments = [f"T1={pair['t1']}", f"T2={pair['t2']}", "MODE=int8", "EPOCHS=100", f"OUTPUT_CHANGE={change}"]
    run = subprocess.Popen([QGIS_PROCESS, "--json", "run", "oaip:detectchanges", "--", *arguments], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(15)   # QGIS started and the run under way (uninterrupted it takes a minute and more)
    assert run.poll() is None
    run.send_signal(signal.SIGINT)
    signalled = time.time()
    log, _ = run.communicate(timeout=120)
    assert time.time() - signalled < 30 and run.returncode != 0, log
    assert "The run was cancelled." in log and not change.exists()
