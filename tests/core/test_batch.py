"""Batch runs on a real Dask LocalCluster (two worker processes, small generated rasters, MODE=prior):
a broken pair is recorded and the others complete, a re-run skips finished pairs, a dead worker's pair
is retried, and the summary layer holds one footprint per pair."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr

from oaip_qgis.core.batch import cluster as cluster_module
from oaip_qgis.core.batch import run_batch
from oaip_qgis.core.batch.cluster import PAIR, local_layout, worker_python
from oaip_qgis.core.errors import Cancelled, InputError
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.progress import Progress
from tests.helpers import make_raster

distributed = pytest.importorskip("distributed")
REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def scheduler():
    """Two worker processes of one core each, declaring the pair resource, shared by this module's tests."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, resources={PAIR: 1},
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def event(sample_pair, tmp_path) -> Path:
    """Four pairs: three readable (the sample pair under three names, one with its reference) and one whose
    T2 lies 1 000 km away from its T1 (no overlap)."""
    far = make_raster(tmp_path / "far.tif", np.ones((16, 16)), origin=(500000.0, 4000000.0))
    table = tmp_path / "pairs.csv"
    table.write_text("name,t1,t2,reference,threshold_method,coregister\n"
                     f"north,{sample_pair['t1']},{sample_pair['t2']},{sample_pair['truth']},,\n"
                     f"south,{sample_pair['t1']},{sample_pair['t2']},,otsu3,\n"
                     f"broken,{sample_pair['t1']},{far},,,\n"
                     f"east,{sample_pair['t1']},{sample_pair['t2']},,,false\n", encoding="utf-8")
    return table


def features(path) -> dict[str, dict]:
    source = ogr.Open(str(path))
    layer = source.GetLayerByName("pairs")
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "4326"
    rows = {}
    for feature in layer:
        geometry = feature.GetGeometryRef()
        rows[feature.GetField("name")] = {**feature.items(), "area": geometry.GetArea() if geometry else None}
    return rows


def test_broken_pair_is_recorded_others_complete_and_a_rerun_skips_them(scheduler, event, tmp_path):
    out = tmp_path / "out"
    messages = []
    result = run_batch(str(event), str(out), scheduler=scheduler, defaults={"mode": "prior"},
                       progress=Progress(report=lambda f, m: messages.append((f, m))))
    status = {r["name"]: r["status"] for r in result.records}
    assert status == {"north": "done", "south": "done", "broken": "failed", "east": "done"}
    broken = next(r for r in result.records if r["name"] == "broken")
    assert "do not overlap" in broken["error"]
    for name in ("north", "south", "east"):
        assert sorted(os.listdir(out / name)) == ["change.tif", "changes.gpkg", "confidence.tif", "difference.tif",
                                                  "stats.json"]
    assert not (out / "broken").exists()
    # Each worker runs one pair at a time with the cores it was given (one here) as torch threads.
    assert {r["torch_threads"] for r in result.records if r["status"] == "done"} == {1}
    assert len({r["worker"] for r in result.records}) >= 1
    assert messages[-1][0] == 1.0 and "4/4 pairs (1 failed)" in messages[-1][1]

    rows = features(result.summary_gpkg)
    assert set(rows) == {"north", "south", "broken", "east"}
    assert rows["north"]["kappa"] > 0.3 and rows["south"]["kappa"] is None
    assert rows["south"]["prior_cut"] != rows["east"]["prior_cut"]  # three-class Otsu against the default
    assert rows["broken"]["status"] == "failed" and "do not overlap" in rows["broken"]["error"]
    assert 0 < rows["east"]["changed_fraction"] < 1 and rows["east"]["changed_area_m2"] > 0
    # Co-registration: searched and nothing found on the registered pair; not asked for east.
    assert (rows["north"]["shift_rows"], rows["north"]["shift_cols"]) == (0, 0)
    assert rows["east"]["shift_rows"] is None and rows["broken"]["shift_cols"] is None
    assert rows["north"]["shift_at_edge"] == 0 and rows["east"]["shift_at_edge"] is None
    # No network in prior mode, so no veto to report (the int8 case: test_the_summary_says_whether...).
    assert rows["north"]["network_veto_share"] is None and rows["north"]["network_veto_applied"] is None
    # Footprints: the aligned grid of each run, the T1 file's extent for the failed pair (larger: uncropped).
    assert all(rows[name]["area"] > 0 for name in rows)
    assert rows["broken"]["area"] > rows["north"]["area"]
    summary = json.loads(Path(result.summary_json).read_text())
    assert summary["totals"]["done"] == 3 and summary["totals"]["failed"] == 1
    assert summary["totals"]["overhead_per_pair_mean_s"] >= 0
    stamp = os.path.getmtime(out / "north" / "stats.json")

    again = run_batch(str(event), str(out), scheduler=scheduler, defaults={"mode": "prior"})
    assert {r["name"]: r["status"] for r in again.records} == {
        "north": "skipped", "south": "skipped", "broken": "failed", "east": "skipped"}
    assert os.path.getmtime(out / "north" / "stats.json") == stamp
    assert features(again.summary_gpkg)["north"]["kappa"] == rows["north"]["kappa"]

    # Another seed is another run: those outputs are not this row's result.
    reseeded = run_batch(str(event), str(out), scheduler=scheduler, defaults={"mode": "prior", "seed": "5"})
    assert {r["status"] for r in reseeded.records if r["name"] != "broken"} == {"done"}
    forced = run_batch(str(event), str(out), scheduler=scheduler, defaults={"mode": "prior", "seed": "5"},
                       force=True)
    assert {r["status"] for r in forced.records if r["name"] != "broken"} == {"done"}


def test_a_dead_worker_is_retried_and_its_pair_recorded_once(scheduler, event, tmp_path):
    marker = str(tmp_path / "died-once")

    def dies_first_time(spec, out_dir, force):
        from oaip_qgis.core.batch.worker import run_pair

        if spec.name == "east" and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker process dies mid-task, as when the kernel kills it for memory
        return run_pair(spec, out_dir, force)

    result = run_batch(str(event), str(tmp_path / "out"), scheduler=scheduler, defaults={"mode": "prior"},
                       fn=dies_first_time)
    assert os.path.exists(marker)
    assert [r["name"] for r in result.records] == ["north", "south", "broken", "east"]
    assert {r["name"]: r["status"] for r in result.records}["east"] == "done"
    assert (tmp_path / "out" / "east" / "stats.json").exists()


def test_out_of_memory_is_retried_then_recorded_and_the_others_complete(scheduler, event, tmp_path):
    attempts = str(tmp_path / "attempts")

    def runs_out_of_memory(spec, out_dir, force):
        from oaip_qgis.core.batch.worker import run_pair

        if spec.name == "south":
            with open(attempts, "a") as handle:
                handle.write("x")
            raise MemoryError()
        return run_pair(spec, out_dir, force)

    result = run_batch(str(event), str(tmp_path / "out"), scheduler=scheduler, defaults={"mode": "prior"},
                       fn=runs_out_of_memory)
    records = {r["name"]: r for r in result.records}
    assert records["south"]["status"] == "failed"
    assert records["south"]["error"] == "Out of memory in its worker, also after 2 retries."
    assert open(attempts).read() == "xxx"  # the first try and Dask's two retries
    assert records["north"]["status"] == records["east"]["status"] == "done"
    assert features(result.summary_gpkg)["south"]["status"] == "failed"


def test_cancel_stops_the_pairs_not_finished_and_writes_no_summary(scheduler, event, tmp_path):
    """Nor leaves an earlier batch's summary, which beside the pairs this one changed looked like a finished batch."""
    (tmp_path / "out").mkdir()
    for name in ("summary.gpkg", "summary.json"):
        (tmp_path / "out" / name).write_text("an earlier batch's")
    reports = []
    progress = Progress(report=lambda f, m: reports.append(m), is_cancelled=lambda: bool(reports[1:]))
    with pytest.raises(Cancelled):
        run_batch(str(event), str(tmp_path / "out"), scheduler=scheduler, defaults={"mode": "prior"},
                  progress=progress)
    assert len(reports) == 2  # the submission, then one pair: no further pair was collected
    assert not (tmp_path / "out" / "summary.gpkg").exists() and not (tmp_path / "out" / "summary.json").exists()


def test_a_batch_whose_workers_all_stop_ends_in_one_sentence(event, tmp_path, monkeypatch):
    """A Ctrl-C in a terminal stops the local cluster's workers but not qgis_process, which waited for them for
    ever; a remote cluster's workers can all go too."""
    import threading

    from oaip_qgis.core.batch import runner
    from oaip_qgis.core.errors import OaipError

    monkeypatch.setattr(runner, "WORKERLESS_S", 1.0)
    monkeypatch.setattr(runner, "WORKERS_CHECK_S", 0.2)

    def waits(spec, out_dir, force):
        import time

        time.sleep(120)

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, resources={PAIR: 1},
                                  dashboard_address=None) as cluster:
        threading.Timer(3.0, cluster.scale, args=(0,)).start()
        with pytest.raises(OaipError, match=r"Every Dask worker has stopped .* with 4 pair\(s\) unfinished and none "
                                            r"came back in 1 s: the pairs that finished keep their outputs in '.*out'"):
            run_batch(str(event), str(tmp_path / "out"), scheduler=cluster.scheduler_address, fn=waits)
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_value_given_but_not_used_is_said_in_the_batch_log(scheduler, sample_pair, tmp_path):
    """THRESHOLD without the manual method, EPOCHS in MODE prior: the pipeline says so in the pair's log, which a
    worker does not hand back, so a batch ran them silently."""
    table = tmp_path / "pairs.csv"
    table.write_text("name,t1,t2,threshold,epochs\n"
                     f"flood,{sample_pair['t1']},{sample_pair['t2']},1.7,5\n"
                     f"quiet,{sample_pair['t1']},{sample_pair['t2']},,\n", encoding="utf-8")
    progress = Progress()
    run_batch(str(table), str(tmp_path / "out"), scheduler=scheduler, defaults={"mode": "prior"}, progress=progress)
    notes = [line for line in progress.log if "ignored" in line]
    assert len(notes) == 2 and all(line.startswith("flood (row 1): ") for line in notes), progress.log
    assert "THRESHOLD 1.7 is ignored" in notes[0] and "EPOCHS ignored" in notes[1]


def test_an_image_replaced_under_its_name_runs_its_pair_again(scheduler, sample_pair, tmp_path):
    """The skip compared the parameters only: an image downloaded again under its name kept the old map. A sidecar
    QGIS writes when it displays an input (statistics) does not make the map stale."""
    import shutil
    import time

    for name in ("t1.tif", "t2.tif"):
        shutil.copy(sample_pair[name[:2]], tmp_path / name)
    table = tmp_path / "pairs.csv"
    table.write_text("name,t1,t2\nsite,t1.tif,t2.tif\n", encoding="utf-8")

    def status() -> str:
        batch = run_batch(str(table), str(tmp_path / "out"), scheduler=scheduler, defaults={"mode": "prior"})
        return batch.records[0]["status"]

    now = time.time()
    for name in ("t1.tif", "t2.tif"):
        os.utime(tmp_path / name, (now - 3600, now - 3600))
    assert status() == "done" and status() == "skipped"
    (tmp_path / "t2.tif.aux.xml").write_text("<PAMDataset/>")   # newer than the run
    assert status() == "skipped"
    os.utime(tmp_path / "out" / "site" / "stats.json", (now - 60, now - 60))
    os.utime(tmp_path / "t2.tif", (now - 30, now - 30))   # the image replaced after the run
    assert status() == "done" and status() == "skipped"


def test_a_pair_that_fails_says_its_folder_holds_an_earlier_run_s_outputs(sample_pair, tmp_path):
    """A pair run again (its image replaced) that fails keeps the earlier run's complete outputs: opened from the
    folder they looked like this batch's map; its error says whose they are. A first failure says nothing of it."""
    import shutil

    from oaip_qgis.core.batch.table import PairSpec
    from oaip_qgis.core.batch.worker import run_pair

    shutil.copy(sample_pair["t2"], tmp_path / "t2.tif")
    spec = PairSpec("site", 2, RunParams(t1=str(sample_pair["t1"]), t2=str(tmp_path / "t2.tif"), mode="prior"))
    first = run_pair(replace(spec, params=replace(spec.params, t2=str(sample_pair["truth"]))), str(tmp_path / "a"))
    assert first["status"] == "failed" and "earlier run" not in first["error"]
    assert run_pair(spec, str(tmp_path / "out"))["status"] == "done"
    shutil.copy(sample_pair["truth"], tmp_path / "t2.tif")   # downloaded again: a mask, not an image
    record = run_pair(spec, str(tmp_path / "out"))
    assert record["status"] == "failed" and "a mask or a change reference" in record["error"]
    assert f"'{tmp_path / 'out' / 'site'}' still holds the outputs of an earlier run" in record["error"]
    assert (tmp_path / "out" / "site" / "change.tif").exists()


def test_bad_table_stops_before_any_work(scheduler, sample_pair, tmp_path):
    table = tmp_path / "pairs.csv"
    table.write_text(f"t1,t2,epoch\n{sample_pair['t1']},{sample_pair['t2']},3\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown column or parameter 'epoch'"):
        run_batch(str(table), str(tmp_path / "out"), scheduler=scheduler)
    assert not (tmp_path / "out").exists()


def test_workers_without_the_pair_resource_are_refused(sample_pair, tmp_path):
    table = tmp_path / "pairs.csv"
    table.write_text(f"t1,t2\n{sample_pair['t1']},{sample_pair['t2']}\n", encoding="utf-8")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as plain:
        with pytest.raises(InputError, match="--resources pair=1"):
            run_batch(str(table), str(tmp_path / "out"), scheduler=plain.scheduler_address)


def test_no_scheduler_at_the_address(sample_pair, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", "1s")
    table = tmp_path / "pairs.csv"
    table.write_text(f"t1,t2\n{sample_pair['t1']},{sample_pair['t2']}\n", encoding="utf-8")
    with pytest.raises(InputError, match="No Dask scheduler answers at 'tcp://127.0.0.1:9'"):
        run_batch(str(table), str(tmp_path / "out"), scheduler="tcp://127.0.0.1:9")


@pytest.mark.parametrize("answer", [None, b"HTTP/1.1 400 Bad Request\r\n\r\n"])
def test_an_address_that_is_no_scheduler_is_one_sentence(sample_pair, tmp_path, monkeypatch, answer):
    """The dashboard's port (which the batch prints) waited for ever; a web server's reply was read as a message of
    exabytes, ending in a MemoryError's traceback. An earlier batch's summary stays: nothing was run."""
    import socket
    import threading

    monkeypatch.setattr(cluster_module, "HANDSHAKE_S", 0.5)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            if answer:
                connection.sendall(answer)
            connection.recv(1)   # until the batch closes it

    threading.Thread(target=serve, daemon=True).start()
    table = tmp_path / "pairs.csv"
    table.write_text(f"t1,t2\n{sample_pair['t1']},{sample_pair['t2']}\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.json").write_text("{}")
    with pytest.raises(InputError, match=f"Something listens at 'tcp://127.0.0.1:{port}' but does not answer as a "
                                         "Dask scheduler"):
        run_batch(str(table), str(tmp_path / "out"), scheduler=f"tcp://127.0.0.1:{port}")
    server.close()
    assert (tmp_path / "out" / "summary.json").read_text() == "{}"


def test_options_a_batch_would_ignore_or_a_file_in_a_pairs_place_are_refused(scheduler, sample_pair, tmp_path):
    """WORKERS with a scheduler, LAYER with a CSV table and a name for every pair were taken and ignored; a file
    where a pair's folder goes failed that pair in its worker with FileExistsError, retried twice."""
    table = tmp_path / "pairs.csv"
    table.write_text(f"name,t1,t2\nnorth,{sample_pair['t1']},{sample_pair['t2']}\n", encoding="utf-8")
    out = tmp_path / "out"
    for options, shown in (({"scheduler": scheduler, "workers": 4}, "WORKERS sets the workers of the local cluster"),
                           ({"layer": "pairs"}, "LAYER names a layer of a GeoPackage table"),
                           ({"defaults": {"name": "x"}}, "name is each pair's own")):
        with pytest.raises(InputError, match=shown):
            run_batch(str(table), str(out), **options)
    out.mkdir(exist_ok=True)
    (out / "north").write_text("")
    with pytest.raises(InputError, match="north' is a file, where pair north \\(row 1\\) writes its outputs"):
        run_batch(str(table), str(out), scheduler=scheduler)


def test_a_pair_that_reads_what_the_batch_writes_is_refused_before_any_work(sample_pair, tmp_path):
    """An input that is an output of the batch (a pair's earlier change map as another's reference, or as its
    own) was found by the pair's worker, or read by one pair while another replaced it."""
    out = tmp_path / "out"
    (out / "north").mkdir(parents=True)
    earlier = out / "north" / "change.tif"
    earlier.write_bytes(Path(sample_pair["truth"]).read_bytes())
    table = tmp_path / "pairs.csv"
    table.write_text(f"name,t1,t2,reference\nnorth,{sample_pair['t1']},{sample_pair['t2']},\n"
                     f"south,{sample_pair['t1']},{sample_pair['t2']},{earlier}\n", encoding="utf-8")
    with pytest.raises(InputError, match="Pair south \\(row 2\\) reads its reference from .* which this batch writes "
                                         "as an output of pair north \\(row 1\\)"):
        run_batch(str(table), str(out), workers=1)
    assert sorted(p.name for p in out.iterdir()) == ["north"]
    # ... also through a VRT that reads it, and a layer of the summary, which a batch removes before it starts
    vrt = tmp_path / "earlier.vrt"
    gdal.Translate(str(vrt), str(earlier), format="VRT")
    summary = out / "summary.gpkg"
    summary.write_bytes(b"")
    for column, value, shown in (("reference", vrt, "an output of pair north"),
                                 ("aoi", f"{summary}|layername=pairs", "the batch's summary")):
        table.write_text(f"name,t1,t2,{column}\nnorth,{sample_pair['t1']},{sample_pair['t2']},\n"
                         f"south,{sample_pair['t1']},{sample_pair['t2']},{value}\n", encoding="utf-8")
        with pytest.raises(InputError, match=f"reads its {column} from .* which this batch writes as {shown}"):
            run_batch(str(table), str(out), workers=1)


def test_local_workers_start_deaf_to_ctrl_c():
    """A Ctrl-C reaches the terminal's whole process group: each local worker printed asyncio's KeyboardInterrupt
    traceback while the batch cancelled them itself. Started within this block, a process ignores SIGINT."""
    import signal

    asks = "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"
    # as an interactive shell starts the batch (a background job of a script starts with SIGINT ignored)
    earlier = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with cluster_module._ctrl_c_not_for_workers():
            started = subprocess.run([sys.executable, "-c", asks], capture_output=True, text=True, check=True)
        assert started.stdout.strip() == "True"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # this process takes Ctrl-C again
        after = subprocess.run([sys.executable, "-c", asks], capture_output=True, text=True, check=True)
        assert after.stdout.strip() == "False"
    finally:
        signal.signal(signal.SIGINT, earlier)


def test_a_sigterm_while_local_workers_start_is_kept_for_after():
    """Raised inside Dask's start, a SIGTERM taken as Ctrl-C left the cluster half made, and Dask's exit hook printed a
    traceback after the batch's sentence. It is kept until the workers have started; they start with SIGTERM's
    default (a Python handler is not passed on, as SIG_IGN is)."""
    import os
    import signal

    earlier = signal.signal(signal.SIGTERM, signal.default_int_handler)   # as the command line sets it
    try:
        asks = "import signal; print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)"
        with cluster_module._ctrl_c_not_for_workers() as stopped:
            os.kill(os.getpid(), signal.SIGTERM)   # no KeyboardInterrupt here
            started = subprocess.run([sys.executable, "-c", asks], capture_output=True, text=True, check=True)
        assert stopped == [signal.SIGTERM] and started.stdout.strip() == "True"
        assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, earlier)


def test_a_worker_whose_gdal_was_closed_says_why(sample_pair, tmp_path, monkeypatch):
    """An unguarded script that runs a batch runs again in each worker as it starts, and its exitQgis() there left
    GDAL without drivers: every pair failed as "not a raster that GDAL can read (No driver registered.)"."""
    from oaip_qgis.core.batch import worker
    from oaip_qgis.core.batch.table import read_pairs

    table = tmp_path / "pairs.csv"
    table.write_text(f"name,t1,t2\nnorth,{sample_pair['t1']},{sample_pair['t2']}\n", encoding="utf-8")
    (spec,) = read_pairs(str(table), {"mode": "prior"})
    monkeypatch.setattr(worker.gdal, "GetDriverCount", lambda: 0)
    record = worker.run_pair(spec, str(tmp_path / "out"), force=True)
    assert record["status"] == "failed" and "GDAL in this Dask worker has no drivers" in record["error"]
    with pytest.raises(InputError, match="started by a local Dask worker as it started"):
        monkeypatch.setattr(cluster_module.multiprocessing.current_process(), "_inheriting", True, raising=False)
        with cluster_module.dask_client():
            pass


def test_local_layout_and_worker_python():
    assert local_layout(None, cores=2) == (2, 1)
    assert local_layout(1, cores=2) == (1, 2)
    assert local_layout(4, cores=2) == (4, 1)
    with pytest.raises(InputError, match="WORKERS must be 1 or more"):
        local_layout(0)
    assert os.path.basename(worker_python()).startswith("python")


def test_worker_python_inside_an_application(monkeypatch):
    """qgis_process: sys.executable is QGIS itself, or a Python found on PATH with another standard library."""
    stdlib_prefix = os.path.dirname(os.path.dirname(os.path.dirname(os.__file__)))  # /usr of /usr/lib/python3.11/os.py
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)
    for pretended in ("/usr/bin/qgis_process.bin", "/opt/elsewhere/bin/python3.11"):
        monkeypatch.setattr(sys, "executable", pretended)
        chosen = worker_python()
        assert chosen != pretended and os.path.isfile(chosen)
        assert os.path.basename(chosen).startswith("python")
        assert chosen.startswith(stdlib_prefix)


def test_command_line_embedded_cluster_and_exit_codes(sample_pair, tmp_path):
    """`python -m oaip_qgis.core.batch` with its own LocalCluster (one worker); 2 for a bad table."""
    table = tmp_path / "pairs.csv"
    table.write_text(f"name,t1,t2\nonly,{sample_pair['t1']},{sample_pair['t2']}\n", encoding="utf-8")
    command = [sys.executable, "-m", "oaip_qgis.core.batch", str(table), "--out", str(tmp_path / "out"),
               "--workers", "1", "--param", "mode=prior"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Local Dask cluster: 1 worker(s)" in done.stderr and "Dask dashboard: http" in done.stderr
    assert "1/1 pairs (0 failed): only done" in done.stderr
    assert "1 done, 0 skipped" in done.stdout and (tmp_path / "out" / "summary.gpkg").exists()
    bad = subprocess.run([*command[:-2], "--param", "mode=int4"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "MODE must be one of" in bad.stderr and "Traceback" not in bad.stderr
    unbalanced = subprocess.run([*command[:-2], "--params", 'aoi="/x/my area.gpkg'], cwd=REPO, capture_output=True,
                                text=True, timeout=120)
    assert unbalanced.returncode == 2 and "PARAMS cannot be split" in unbalanced.stderr


def test_a_batch_stopped_by_sigterm_ends_as_one_stopped_by_ctrl_c(tmp_path):
    """SIGTERM (kill, a job scheduler's time limit) ended the batch at once: no sentence, and the folders of the pairs
    under way left empty. It now ends as Ctrl-C does."""
    import signal
    import time

    from oaip_qgis.core.sample_pair import make_sample_pair

    pairs = [make_sample_pair(tmp_path / f"pair{k}", size=300, seed=k) for k in range(2)]
    table = tmp_path / "pairs.csv"
    table.write_text("name,t1,t2\n" + "".join(f"p{k},{p['t1']},{p['t2']}\n" for k, p in enumerate(pairs)),
                     encoding="utf-8")
    out = tmp_path / "out"
    batch = subprocess.Popen([sys.executable, "-m", "oaip_qgis.core.batch", str(table), "--out", str(out),
                              "--workers", "1", "--param", "mode=int8", "--param", "epochs=100"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(path.is_dir() for path in out.glob("p*")):
        time.sleep(0.5)   # a pair under way: its folder made
    assert batch.poll() is None
    batch.send_signal(signal.SIGTERM)
    stdout, stderr = batch.communicate(timeout=120)
    assert batch.returncode == 130 and "Interrupted: the pairs that finished keep their outputs" in stderr, stderr
    assert "Traceback" not in stderr
    assert not [path for path in out.glob("p*") if path.is_dir() and not any(path.iterdir())]


def test_params_in_one_string_keep_a_quoted_value_whole():
    """make batch's PARAMS was split at every space, so a path with one could not be passed."""
    from oaip_qgis.core.batch.__main__ import _parameters

    assert _parameters(["mode=prior"], 'aoi="/x/my area.gpkg" seed=1') == {
        "mode": "prior", "aoi": "/x/my area.gpkg", "seed": "1"}


@pytest.mark.parametrize("applied", [True, False])
def test_the_summary_says_whether_the_network_veto_was_applied(tmp_path, applied):
    """A batch analyst sees in summary.gpkg which pairs' maps are the prior's (decision.confirmation)."""
    from oaip_qgis.core.batch.summary import write_geopackage
    from oaip_qgis.core.batch.worker import stats_fields

    stats = {"mode": "int8", "network_confirmation": {"applied": applied, "vetoed_share": 0.2837 if applied else 0.05,
                                                       "least_share": 0.12, "prior_changed_pixels": 10}}
    record = {"name": "north", "status": "done", **stats_fields(stats)}
    row = features(write_geopackage([record], str(tmp_path / "summary.gpkg")))["north"]
    assert row["network_veto_applied"] == int(applied)
    assert row["network_veto_share"] == pytest.approx(0.2837 if applied else 0.05)
    assert row["network_added_pixels"] is None   # only where the analyst asked to find more like the samples


def test_the_summary_counts_what_the_network_added_when_asked_to_find_more(tmp_path):
    from oaip_qgis.core.batch.summary import write_geopackage
    from oaip_qgis.core.batch.worker import finished_stats, stats_fields

    stats = {"mode": "int8", "network_confirmation": {"applied": True, "vetoed_share": 0.02, "least_share": 0.12,
                                                       "prior_changed_pixels": 10, "extended": True,
                                                       "added_pixels": 5_000_000_000}}
    row = features(write_geopackage([{"name": "north", "status": "done", **stats_fields(stats)}],
                                    str(tmp_path / "summary.gpkg")))["north"]
    assert row["network_added_pixels"] == 5_000_000_000   # a whole tile's worth needs 64 bits
    # A finished run is this row's result only if made with the row's parameters: finding more or not, another
    # threshold, AOI or bands (a changed THRESHOLD was reported as done), but on any number of cores.
    outputs = {key: str(tmp_path / name) for key, name in
               (("out_change", "c.tif"), ("out_difference", "d.tif"), ("out_confidence", "f.tif"),
                ("out_polygons", "p.gpkg"), ("out_stats", "stats.json"))}
    for path in outputs.values():
        open(path, "w").close()
    made = RunParams(t1="a", t2="b", samples="s.gpkg", bands1=(1, 2), threshold_method="manual", threshold=0.4,
                     **outputs)
    recorded = {"mode": "int8", "parameters": made.recorded()}
    (tmp_path / "stats.json").write_text(json.dumps(recorded))
    assert finished_stats(replace(made, threads=7)) == json.loads(json.dumps(recorded))
    for change in ({"extend_from_samples": True}, {"threshold": 0.6}, {"aoi": "area.gpkg"}, {"bands1": [1, 3]}):
        assert finished_stats(replace(made, **change)) is None, change


def test_the_summary_gives_each_pair_s_evidence_verdict_in_a_word(tmp_path):
    """A batch analyst filters summary.gpkg for pairs without change, or with weak evidence to check."""
    from oaip_qgis.core.batch.summary import write_geopackage
    from oaip_qgis.core.batch.worker import stats_fields

    verdicts = {"quiet": {"significant": False, "weak": False}, "faint": {"significant": True, "weak": True},
                "flood": {"significant": True, "weak": False}, "old": None,
                "spots": {"significant": False, "weak": True, "groups": 2}}
    records = [{"name": name, "status": "done", **stats_fields({"evidence": evidence})}
               for name, evidence in verdicts.items()]
    rows = features(write_geopackage(records, str(tmp_path / "summary.gpkg")))
    assert {name: rows[name]["evidence"] for name in verdicts} == {"quiet": "none", "faint": "weak",
                                                                   "flood": "change", "old": None,
                                                                   "spots": "weak"}


def test_a_scheduler_that_cannot_import_the_plugin_is_refused_before_any_pair():
    """A `dask scheduler` started without the plugin on its PYTHONPATH failed every pair ("Error during
    deserialization of the task graph"), though the workers could import it."""
    from oaip_qgis.core.batch.cluster import _check_scheduler

    class Scheduler:
        def run_on_scheduler(self, function, *args):
            raise ModuleNotFoundError("No module named 'oaip_qgis'")

    with pytest.raises(InputError, match="The Dask scheduler at tcp://host:8786 cannot import .*worker .*No module "
                                         "named 'oaip_qgis'.*PYTHONPATH"):
        _check_scheduler(Scheduler(), "tcp://host:8786")


def test_the_summary_says_when_a_shift_is_as_far_as_the_search_goes(tmp_path):
    """A pair found 20 px apart may lie further: the batch analyst sees it in summary.gpkg, not only in the log."""
    from oaip_qgis.core.batch.summary import write_geopackage
    from oaip_qgis.core.batch.worker import stats_fields

    records = [{"name": name, "status": "done", **stats_fields({"mode": "prior", "coregistration": shift})}
               for name, shift in (("far", {"rows": 20, "cols": 18, "gain": 4.6, "edge": True}),
                                   ("near", {"rows": 3, "cols": 2, "gain": 1.3, "edge": False}),
                                   ("older", {"rows": 3, "cols": 2, "gain": 1.3}))]   # stats before 0.11.9
    rows = features(write_geopackage(records, str(tmp_path / "summary.gpkg")))
    assert (rows["far"]["shift_at_edge"], rows["near"]["shift_at_edge"], rows["older"]["shift_at_edge"]) == (1, 0, None)


def test_the_summary_says_which_pairs_were_named_as_possibly_clouded(tmp_path):
    """A batch of clouded pairs: which maps may mark cloud (and want MASK_CLOUDS) was in each stats.json only."""
    from oaip_qgis.core.batch.summary import write_geopackage
    from oaip_qgis.core.batch.worker import stats_fields

    places = {"masked": False, "T2": {"white": 0.08, "marked_on_white": 0.6}}
    records = [{"name": name, "status": "done", **stats_fields({"white_places": white})}
               for name, white in (("clouded", {**places, "noted": True}), ("clear", {**places, "noted": False}),
                                   ("radar", None))]
    rows = features(write_geopackage(records, str(tmp_path / "summary.gpkg")))
    assert (rows["clouded"]["cloud_note"], rows["clear"]["cloud_note"], rows["radar"]["cloud_note"]) == (1, 0, None)
