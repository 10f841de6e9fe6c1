"""Screenshot of the real QGIS window with the OAIP panel after a run on the generated sample pair.

    python scripts/screenshot.py build/screenshot.png [--mode int8] [--epochs 16] [--size 160]

Outside QGIS it writes the sample pair, makes a throw-away QGIS profile with the plugin enabled
and starts QGIS under Xvfb (no display needed) with this same file as `--code`. Inside QGIS
(told apart by an environment variable, as QGIS runs `--code` files without `__file__`) it loads
the pair, runs a detection through the panel as an analyst would, and saves the window.
"""
from __future__ import annotations

import json
import os

SETTINGS_VARIABLE = "OAIP_SCREENSHOT"
SCREEN = (1600, 1000)
RUN_TIMEOUT_S = 600


def inside_qgis(settings: dict) -> None:
    """Runs in QGIS's main thread: every step is a timer callback, so the window keeps drawing."""
    import time

    from qgis.core import (
        QgsApplication,
        QgsContrastEnhancement,
        QgsMultiBandColorRenderer,
        QgsProject,
        QgsRasterMinMaxOrigin,
    )
    from qgis.PyQt.QtCore import Qt, QTimer
    from qgis.utils import iface, plugins

    started = time.monotonic()
    state: dict = {}

    def finish(code: int, message: str) -> None:
        with open(settings["log"], "a", encoding="utf-8") as log:
            log.write(message + "\n")
        QgsProject.instance().setDirty(False)
        QTimer.singleShot(10_000, lambda: os._exit(code))  # in case QGIS asks something on exit
        QgsApplication.exit(code)

    def start() -> None:
        plugin = plugins.get("oaip_qgis")
        if plugin is None:
            finish(2, "The oaip_qgis plugin is not loaded in QGIS.")
            return
        window = iface.mainWindow()
        window.move(0, 0)
        window.resize(*SCREEN)
        t1 = iface.addRasterLayer(settings["t1"], "Optical before (T1)")
        t1.setRenderer(QgsMultiBandColorRenderer(t1.dataProvider(), 3, 2, 1))  # B,G,R,NIR file: true colour
        t1.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum, QgsRasterMinMaxOrigin.CumulativeCut)
        t2 = iface.addRasterLayer(settings["t2"], "SAR after (T2)")
        truth = iface.addRasterLayer(settings["truth"], "Reference changes")
        QgsProject.instance().layerTreeRoot().findLayer(truth.id()).setItemVisibilityChecked(False)
        QgsProject.instance().layerTreeRoot().findLayer(t2.id()).setItemVisibilityChecked(False)
        dock = plugin.dock
        dock.show()
        dock.raise_()
        window.resizeDocks([dock], [430], Qt.Horizontal)
        dock.ui.t1Combo.setLayer(t1)
        dock.ui.t2Combo.setLayer(t2)
        dock.ui.referenceCombo.setLayer(truth)
        dock.ui.modeCombo.setCurrentText(settings["mode"])
        dock.ui.epochsSpin.setValue(settings["epochs"])
        dock.ui.outputFolder.setFilePath(settings["out_dir"])
        dock.ui.runButton.click()
        if dock.task is None:
            finish(3, f"The run did not start: {dock.ui.statusLabel.text()}")
            return
        state["dock"] = dock
        QTimer.singleShot(500, wait_for_run)

    def wait_for_run() -> None:
        dock = state["dock"]
        if dock.task is not None:
            if time.monotonic() - started > RUN_TIMEOUT_S:
                dock.cancel_run()
                finish(4, "The run took too long.")
                return
            QTimer.singleShot(500, wait_for_run)
            return
        if not dock.layer_ids:
            finish(5, f"The run failed: {dock.ui.statusLabel.text()}")
            return
        change = QgsProject.instance().mapLayer(dock.layer_ids["change"])
        iface.mapCanvas().setExtent(change.extent())
        iface.mapCanvas().refreshAllLayers()
        QTimer.singleShot(4000, save)

    def save() -> None:
        iface.mainWindow().grab().save(settings["png"])
        dock = state["dock"]
        with open(settings["stats"], "w", encoding="utf-8") as handle:
            json.dump(dock.stats.to_dict(), handle, indent=2)
        finish(0, f"Saved {settings['png']}; {dock.ui.statusLabel.text()}")

    QTimer.singleShot(3000, start)


def launch() -> int:
    """Prepare the data and a profile, then run QGIS under Xvfb with this file as its startup code."""
    import argparse
    import configparser
    import shutil
    import subprocess
    import sys
    import sysconfig
    import tempfile
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(repo))
    from oaip_qgis.core.params import RunParams
    from oaip_qgis.core.sample_pair import make_sample_pair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png", type=Path)
    parser.add_argument("--mode", default="int8", choices=["int8", "fp32", "prior"])
    parser.add_argument("--epochs", type=int, default=RunParams.epochs)
    parser.add_argument("--size", type=int, default=160)
    args = parser.parse_args()

    work = repo / "build" / "screenshot"
    shutil.rmtree(work, ignore_errors=True)
    (work / "out").mkdir(parents=True)
    pair = make_sample_pair(work / "pair", size=args.size, seed=3)
    profiles = Path(tempfile.mkdtemp(prefix="oaip-qgis-profile-"))
    ini = configparser.ConfigParser()
    ini.optionxform = str
    ini["PythonPlugins"] = {"oaip_qgis": "true"}
    ini["qgis"] = {"checkVersion": "false", "showTips": "false", "allowVersionInformation": "false"}
    ini["core"] = {"NewsFeed\\httpsfeedqgisorg\\disabled": "true"}
    (profiles / "profiles" / "default" / "QGIS").mkdir(parents=True)
    with open(profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini", "w") as handle:
        ini.write(handle, space_around_delimiters=False)
    args.png.parent.mkdir(parents=True, exist_ok=True)
    if args.png.exists():
        args.png.unlink()
    settings = {**{key: pair[key] for key in ("t1", "t2", "truth")}, "mode": args.mode, "epochs": args.epochs,
                "out_dir": str(work / "out"), "png": str(args.png.resolve()), "log": str(work / "log.txt"),
                "stats": str(work / "stats.json")}
    env = dict(os.environ, QGIS_PLUGINPATH=str(repo), **{SETTINGS_VARIABLE: json.dumps(settings)})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [sysconfig.get_paths()["purelib"], env.get("PYTHONPATH")]))
    env.pop("QT_QPA_PLATFORM", None)  # the Makefile's offscreen platform would hide the window from Xvfb
    command = ["xvfb-run", "-a", "-s", f"-screen 0 {SCREEN[0]}x{SCREEN[1]}x24", "qgis", "--nologo",
               "--noversioncheck", "--profiles-path", str(profiles), "--code", __file__]
    try:
        done = subprocess.run(command, env=env, timeout=RUN_TIMEOUT_S + 120, capture_output=True, text=True)
    finally:
        shutil.rmtree(profiles, ignore_errors=True)
    log = (work / "log.txt").read_text() if (work / "log.txt").exists() else ""
    print(log.strip() or done.stdout[-2000:] + done.stderr[-4000:])
    return 0 if args.png.exists() else (done.returncode or 1)


if os.environ.get(SETTINGS_VARIABLE):
    inside_qgis(json.loads(os.environ[SETTINGS_VARIABLE]))
elif __name__ == "__main__":
    raise SystemExit(launch())
