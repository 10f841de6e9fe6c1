"""Installing torch from QGIS: the real InstallTask running pip on a dummy wheel (no network), the
offline message, cancel, the panel's button and the Processing message, and the folder at start-up."""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pytest_qgis.utils import wait_until
from qgis.core import QgsApplication, QgsProcessingException, QgsTask
from qgis.PyQt.QtWidgets import QMessageBox

import oaip_qgis
from oaip_qgis.deps import install_task
from oaip_qgis.deps.install_task import INSTALL_BUTTON, InstallTask, torch_install
from oaip_qgis.deps.pip_install import TORCH_VERSION, PipInstall
from oaip_qgis.dock import OaipDock
from tests.helpers import make_wheel

FAKE = "oaip_fake_torch"
TIMEOUT_MS = 120_000


@pytest.fixture()
def pip_alone(monkeypatch):
    """pip without this machine's configuration (indexes, wheel folders): only what a test passes."""
    for name in [name for name in os.environ if name.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)


@pytest.fixture()
def fake_install(tmp_path, pip_alone, monkeypatch):
    """A PipInstall of a dummy wheel from a local folder into tmp_path/target; sys.path and sys.modules
    are put back afterwards."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, FAKE, "1.7")
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield PipInstall(python=sys.executable, target=str(tmp_path / "target"), requirements=(FAKE,), index_url=None,
                     find_links=str(wheels), module=FAKE)
    sys.modules.pop(FAKE, None)


def run_task(task: InstallTask) -> InstallTask:
    """Through QGIS's task manager, as the panel starts it."""
    done = []
    task.on_finished = done.append
    QgsApplication.taskManager().addTask(task)
    assert wait_until(lambda: done, timeout_milliseconds=TIMEOUT_MS)
    return done[0]


def test_the_task_installs_into_the_target_and_imports_without_a_restart(qgis_app, fake_install):
    task, messages, progress = InstallTask(fake_install), [], []
    task.message.connect(messages.append)
    task.progressChanged.connect(progress.append)
    run_task(task)
    assert task.error is None and task.restart_reason is None and not task.cancelled
    assert task.version == "1.7"
    assert os.path.isfile(os.path.join(fake_install.target, FAKE, "__init__.py"))
    assert sys.modules[FAKE].__file__.startswith(fake_install.target)
    assert fake_install.target in sys.path
    assert any(message.startswith("Successfully installed oaip_fake_torch-1.7") for message in messages)
    assert progress[-1] == 100.0 and progress == sorted(progress)
    assert "no restart needed" in task.outcome() and fake_install.target in task.outcome()


@contextlib.contextmanager
def slow_index(wheel):
    """A package index on 127.0.0.1 that lists `wheel` and sends it at about 2.5 MB/s; yields its URL."""
    chunk, pause = 64 * 1024, 0.025

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.rstrip("/") == "/simple/" + FAKE.replace("_", "-"):
                self._send(f'<a href="/files/{wheel.name}">{wheel.name}</a>'.encode(), "text/html")
            elif self.path == f"/files/{wheel.name}":
                data = wheel.read_bytes()
                self._send(b"", "application/octet-stream", len(data))
                for start in range(0, len(data), chunk):
                    self.wfile.write(data[start:start + chunk])
                    time.sleep(pause)
            else:
                self.send_error(404)

        def _send(self, body: bytes, kind: str, length: int | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_download_shows_the_megabytes_received(qgis_app, fake_install, tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    (tmp_path / "served").mkdir()
    wheel = make_wheel(tmp_path / "served", FAKE, "1.8", padding=4_000_000)
    with slow_index(wheel) as url:
        served = PipInstall(python=sys.executable, target=str(tmp_path / "served_target"), requirements=(FAKE,),
                            index_url=url, timeout_s=10, retries=0, module=FAKE)
        task, messages, progress = InstallTask(served), [], []
        task.message.connect(messages.append)
        task.progressChanged.connect(progress.append)
        run_task(task)
    assert task.version == "1.8", task.output
    received = [float(message.rsplit(": ", 1)[1].split()[0]) for message in messages
                if message.startswith("Downloading oaip_fake_torch-1.8-py3-none-any.whl (4.0 MB): ")]
    assert len(received) >= 2 and received == sorted(received) and 0 < received[0] < received[-1] <= 4.0
    assert any(5 < value < 85 for value in progress) and progress == sorted(progress) and progress[-1] == 100.0


def test_offline_is_one_sentence_naming_the_index(qgis_app, fake_install, tmp_path):
    offline = PipInstall(python=sys.executable, target=str(tmp_path / "offline"), requirements=(FAKE,),
                         index_url="http://127.0.0.1:9/", timeout_s=2, retries=1, module=FAKE)
    task = run_task(InstallTask(offline))
    assert task.version is None and not task.cancelled
    assert task.error == ("pip could not reach http://127.0.0.1:9/: check that this computer is online (and, behind "
                          "a proxy, that pip knows it through HTTPS_PROXY), then press “Install torch…” again.")
    assert "Traceback" not in task.error and not os.path.exists(os.path.join(offline.target, FAKE))
    assert "Connection refused" in task.output   # what the sentence was read from, kept for the log


def test_a_proxy_that_refuses_is_told_from_being_offline(qgis_app, fake_install, tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_PROXY", "http://127.0.0.1:9")   # as pip's configuration would set it
    behind = PipInstall(python=sys.executable, target=str(tmp_path / "proxy"), requirements=(FAKE,),
                        timeout_s=2, retries=1, module=FAKE)   # the real index, through the proxy
    task = run_task(InstallTask(behind))
    assert task.error.startswith("pip could not get through the proxy to https://download.pytorch.org/whl/cpu: ")
    assert "ProxyError" in task.output


def test_a_module_this_session_cannot_import_asks_for_a_restart(qgis_app, pip_alone, tmp_path, monkeypatch):
    make_wheel(tmp_path, "oaip_fake_stale", "2.0", body='raise ImportError("an older copy is already loaded")\n')
    monkeypatch.setattr(sys, "path", list(sys.path))
    install = PipInstall(python=sys.executable, target=str(tmp_path / "target"), requirements=("oaip_fake_stale",),
                         index_url=None, find_links=str(tmp_path), module="oaip_fake_stale")
    task = run_task(InstallTask(install))
    assert task.error is None and task.version is None and not task.cancelled
    assert task.restart_reason == "ImportError: an older copy is already loaded"
    assert task.outcome().endswith("restart QGIS to use it.")
    assert os.path.isdir(os.path.join(install.target, "oaip_fake_stale"))


def test_an_interpreter_that_cannot_start_is_named(qgis_app, fake_install):
    broken = PipInstall(python=os.path.join(fake_install.target, "no-python"), target=fake_install.target)
    task = run_task(InstallTask(broken))
    assert task.error.startswith(f"pip could not be started with {broken.python}: ") and task.version is None
    assert "No such file or directory" in task.error


@pytest.fixture()
def silent_install(fake_install, tmp_path):
    """An install from an index on 127.0.0.1 that accepts connections (the kernel's backlog) and never
    answers: pip waits there until its 60 s timeout, unless cancelled."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield PipInstall(python=sys.executable, target=str(tmp_path / "silent"), requirements=(FAKE,),
                         index_url=f"http://127.0.0.1:{server.getsockname()[1]}/", timeout_s=60, retries=0,
                         module=FAKE)


def test_cancel_stops_pip_while_it_waits_for_the_index(qgis_app, silent_install):
    task, done = InstallTask(silent_install), []
    task.on_finished = done.append
    QgsApplication.taskManager().addTask(task)
    assert wait_until(lambda: task.status() == task.Running, timeout_milliseconds=TIMEOUT_MS)
    task.cancel()
    assert wait_until(lambda: done, timeout_milliseconds=10_000)   # pip alone would wait 60 s
    assert task.cancelled and task.error is None and task.version is None
    assert task.outcome() == "Installation cancelled."


@pytest.fixture()
def no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)   # as if torch were not installed


def test_the_panel_offers_the_install_and_runs_it_with_progress(qgis_iface, qgis_new_project, no_torch, fake_install,
                                                                 monkeypatch):
    asked = []

    def answer_yes(parent, title, text, *args):
        asked.append((title, text))
        return QMessageBox.Yes

    monkeypatch.setattr("oaip_qgis.dock.panel.torch_install", lambda: fake_install)
    monkeypatch.setattr(QMessageBox, "question", answer_yes)
    panel = OaipDock(qgis_iface)
    try:
        assert not panel.install_button.isHidden() and panel.install_button.text() == INSTALL_BUTTON
        assert not panel.ui.runButton.isEnabled()
        panel.install_button.click()
        assert asked and asked[0][0] == INSTALL_BUTTON and fake_install.text() in asked[0][1]
        assert panel.install_task is not None and panel.ui.cancelButton.isEnabled()
        assert not panel.install_button.isEnabled()
        assert wait_until(lambda: panel.install_task is None, timeout_milliseconds=TIMEOUT_MS)
        assert panel.ui.progressBar.value() == 100
        assert panel.ui.statusLabel.text().startswith("oaip_fake_torch 1.7 is installed in ")
        assert panel.install_button.isHidden() and panel.ui.torchLabel.isHidden()
        assert panel.ui.runButton.isEnabled() and not panel.ui.cancelButton.isEnabled()
    finally:
        panel.close_down()
        panel.deleteLater()


def test_the_panel_asks_before_installing(qgis_iface, qgis_new_project, no_torch, fake_install, monkeypatch):
    monkeypatch.setattr("oaip_qgis.dock.panel.torch_install", lambda: fake_install)
    monkeypatch.setattr(QMessageBox, "question", lambda *args: QMessageBox.No)
    panel = OaipDock(qgis_iface)
    try:
        panel.install_button.click()
        assert panel.install_task is None and not os.path.exists(fake_install.target)
    finally:
        panel.close_down()
        panel.deleteLater()


def test_the_panels_cancel_stops_the_install(qgis_iface, qgis_new_project, no_torch, silent_install):
    panel = OaipDock(qgis_iface)
    try:
        assert panel.start_install(silent_install) is not None
        assert panel.ui.statusLabel.text() == f"Running: {silent_install.text()}"
        assert wait_until(lambda: panel.install_task.status() == QgsTask.Running, timeout_milliseconds=TIMEOUT_MS)
        panel.ui.cancelButton.click()
        assert wait_until(lambda: panel.install_task is None, timeout_milliseconds=10_000)
        assert panel.ui.statusLabel.text() == "Installation cancelled." and panel.ui.progressBar.value() == 0
        assert panel.install_button.isEnabled() and not panel.install_button.isHidden()
        assert not panel.ui.runButton.isEnabled() and not panel.ui.cancelButton.isEnabled()
    finally:
        panel.close_down()
        panel.deleteLater()


def test_with_torch_there_is_no_install_button(qgis_iface, qgis_new_project):
    panel = OaipDock(qgis_iface)
    try:
        assert panel.install_button.isHidden() and panel.ui.torchLabel.isHidden()
    finally:
        panel.close_down()
        panel.deleteLater()


def test_processing_without_torch_gives_the_exact_command(provider, no_torch, sample_pair, tmp_path):
    """In QGIS the panel's button is named too (test_task); here, as in qgis_process, there is no panel."""
    import processing

    command = torch_install().text()
    assert f"torch=={TORCH_VERSION}" in command and "--index-url https://download.pytorch.org/whl/cpu" in command
    with pytest.raises(QgsProcessingException) as raised:
        processing.run("oaip:detectchanges", {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior",
                                              "OUTPUT_CHANGE": str(tmp_path / "change.tif")})
    assert QgsApplication.platform() != "desktop"
    assert command in str(raised.value) and "then run again" in str(raised.value)
    assert "“Install torch…”" not in str(raised.value)


def test_the_plugin_puts_the_folder_of_an_earlier_install_on_the_path(qgis_app, fake_install, monkeypatch):
    task = run_task(InstallTask(fake_install))
    assert task.version == "1.7"
    sys.path.remove(fake_install.target)   # a new session: only the plugin's start-up can add it
    sys.modules.pop(FAKE)
    monkeypatch.setattr(install_task, "plugin_deps_folder", lambda: fake_install.target)
    plugin = oaip_qgis.classFactory(None)
    assert fake_install.target in sys.path
    assert __import__(FAKE).__file__.startswith(fake_install.target)
    plugin.unload()
