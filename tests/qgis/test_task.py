"""DetectionTask: run() never raises, outcomes reach finished(), cancel stops a running task, torch hint."""
from __future__ import annotations

import sys
import time

import pytest
from pytest_qgis.utils import wait_until
from qgis.core import QgsApplication, QgsTask

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import RunResult
from oaip_qgis.deps.install_task import torch_install
from oaip_qgis.task import DetectionTask, torch_missing_message

PARAMS = RunParams(t1="a.tif", t2="b.tif", mode="prior")


def finish(task: DetectionTask) -> DetectionTask:
    """Run a task synchronously in this thread, then hand it over as the task manager would."""
    task.finished(task.run())
    return task


def test_success_returns_the_result_and_reports_progress():
    seen = []

    def fake(params, progress):
        progress(0.5, "Half way")
        return RunResult(stats={"threshold": 0.3, "mode": params.mode}, outputs={})

    task = DetectionTask(PARAMS, on_finished=seen.append, run_fn=fake)
    messages = []
    task.message.connect(messages.append)
    assert task.run() is True
    assert task.progress() == pytest.approx(50.0) and messages == ["Half way"]
    task.finished(True)
    assert seen == [task] and task.result.stats["mode"] == "prior"
    assert task.error is None and not task.cancelled


def test_the_task_counts_the_difference_image_for_the_slider_off_the_main_thread(tmp_path):
    """The dock read the whole difference image on QGIS's main thread (seconds on a tile, QGIS frozen)."""
    from dataclasses import replace

    import numpy as np

    from tests.helpers import make_raster

    values = np.array([[0.05, 0.15, 0.95], [-1.0, 0.55, 0.95]], np.float32)

    def fake(params, progress):
        make_raster(params.out_difference, values, nodata=-1)
        return RunResult(stats={}, outputs={})

    task = finish(DetectionTask(replace(PARAMS, out_difference=str(tmp_path / "d.tif")), run_fn=fake))
    assert len(task.histogram) == 100 and sum(task.histogram) == 5 and task.histogram[95] == 2
    no_difference = finish(DetectionTask(PARAMS, run_fn=lambda params, progress: RunResult(stats={}, outputs={})))
    assert no_difference.histogram is None

    def unreadable(params, progress):   # the image cannot be read again: the run's result stands
        open(params.out_difference, "w").write("not a raster")
        return RunResult(stats={}, outputs={})

    broken = finish(DetectionTask(replace(PARAMS, out_difference=str(tmp_path / "e.tif")), run_fn=unreadable))
    assert broken.result is not None and broken.error is None and broken.histogram is None


def test_the_task_styles_the_outputs_it_wrote_whatever_becomes_of_the_project(tmp_path):
    """The dock styled a run's outputs only as it added them to the project: a run that ended after Project > New left
    its change, difference and confidence layers without their .qml (grey when opened later)."""
    import numpy as np

    from tests.helpers import make_raster

    def fake(params, progress):
        outputs = {"change": str(tmp_path / "change.tif"), "difference": str(tmp_path / "difference.tif"),
                   "stats": str(tmp_path / "stats.json")}
        make_raster(outputs["change"], np.array([[0, 1], [1, 0]], np.uint8), nodata=255)
        make_raster(outputs["difference"], np.array([[0.1, 0.9], [0.8, 0.2]], np.float32), nodata=-1)
        (tmp_path / "stats.json").write_text("{}")
        return RunResult(stats={}, outputs=outputs)

    finish(DetectionTask(PARAMS, run_fn=fake))
    assert sorted(path.name for path in tmp_path.glob("*.qml")) == ["change.qml", "difference.qml"]


@pytest.mark.parametrize("exception, expected", [
    (InputError("T2: no such file"), "T2: no such file"),
    (ZeroDivisionError("boom"), "Unexpected error: ZeroDivisionError('boom')"),
])
def test_errors_are_kept_not_raised(exception, expected):
    def failing(params, progress):
        raise exception

    task = finish(DetectionTask(PARAMS, run_fn=failing))
    assert task.result is None and not task.cancelled
    assert task.error.startswith(expected)
    if not isinstance(exception, InputError):
        assert "ZeroDivisionError" in task.details  # the traceback goes to the log panel


def test_cancel_through_the_task_manager_stops_within_a_step(qgis_app):
    steps, done = [], []

    def endless(params, progress):
        while True:
            steps.append(time.monotonic())
            progress(0.0, "step")  # raises Cancelled once the task is cancelled
            time.sleep(0.01)

    task = DetectionTask(PARAMS, on_finished=done.append, run_fn=endless)
    QgsApplication.taskManager().addTask(task)
    assert wait_until(lambda: len(steps) > 3, timeout_milliseconds=10_000)
    assert task.status() == QgsTask.Running
    cancelled_at = time.monotonic()
    task.cancel()
    assert wait_until(lambda: done, timeout_milliseconds=10_000)
    assert done[0].cancelled and done[0].result is None and done[0].error is None
    assert sum(1 for t in steps if t > cancelled_at) <= 1


def test_missing_torch_is_explained_not_raised(monkeypatch):
    import oaip_qgis.task as task_module

    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec then reports torch as absent
    monkeypatch.setattr(task_module, "QgsApplication",
                        type("Desktop", (), {"platform": staticmethod(lambda: "desktop")}))
    message = torch_missing_message()
    assert torch_install().text() in message and "torch==" in message and "“Install torch…”" in message
    task = finish(DetectionTask(PARAMS))  # the real pipeline is never imported
    assert task.result is None and task.error == message
    # qgis_process has no panel to press a button in: the command alone.
    monkeypatch.setattr(task_module, "QgsApplication",
                        type("Headless", (), {"platform": staticmethod(lambda: "qgis_process")}))
    headless = torch_missing_message()
    assert torch_install().text() in headless and "panel" not in headless and "then run again" in headless


def test_torch_present_gives_no_message():
    assert torch_missing_message() is None


def test_a_failure_of_whoever_started_the_task_is_logged_not_raised_into_qgis():
    """finished() is a C++ virtual: an exception out of it can abort QGIS, so the dock's handler failing is logged."""
    def broken(task):
        raise RuntimeError("the dock was closed")

    logged = []
    QgsApplication.messageLog().messageReceived.connect(lambda text, tag, level: logged.append((text, tag)))
    task = DetectionTask(PARAMS, on_finished=broken,
                         run_fn=lambda params, progress: RunResult(stats={}, outputs={}))
    finish(task)
    assert any(tag == "OAIP" and text.startswith("Handling the finished run failed:") and "the dock was closed" in text
               for text, tag in logged)
