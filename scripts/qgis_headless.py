"""Run the plugin's algorithm through qgis_process with an isolated profile (no GUI, no user settings).

Shared by `make demo`, `make detect` and the CLI tests so that all three run QGIS the same way.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Debian's /usr/bin/qgis_process wrapper passes --noversioncheck, which QGIS 3.22 rejects.
QGIS_PROCESS = os.environ.get("QGIS_PROCESS", "/usr/bin/qgis_process.bin")
ALGORITHM = "oaip:detectchanges"


def environment(plugin_path: Path, profile: Path) -> dict:
    """qgis_process runs Debian's python: it sees the venv's packages (torch) only through PYTHONPATH."""
    env = dict(os.environ)
    site = sysconfig.get_paths()["purelib"]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH", "")) if p)
    env["QGIS_PLUGINPATH"] = str(plugin_path)
    env["QGIS_CUSTOM_CONFIG_PATH"] = str(profile)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    # QGIS's embedded Python finds its standard library through the first python3 on PATH: another one first
    # (pyenv, conda) gave "Couldn't load SIP module" in HTML. The Python this venv was made from comes first.
    base = os.path.dirname(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    env["PATH"] = os.pathsep.join([base, *(p for p in env.get("PATH", "").split(os.pathsep) if p and p != base)])
    return env


def run_algorithm(params: dict, *, plugin_path: Path = REPO, profile: Path | None = None,
                  timeout: float = 3600) -> tuple[int, dict | None, str]:
    """Enable the plugin in the profile, run the algorithm; returns (exit code, JSON result or None, stderr+stdout)."""
    profile = profile or REPO / "build" / "qgis-profile"
    profile.mkdir(parents=True, exist_ok=True)
    env = environment(plugin_path, profile)
    enable = subprocess.run([QGIS_PROCESS, "plugins", "enable", "oaip_qgis"], env=env, capture_output=True,
                            text=True, timeout=300)
    if enable.returncode != 0 and "already enabled" not in enable.stdout + enable.stderr:
        return enable.returncode, None, enable.stdout + enable.stderr
    args = [QGIS_PROCESS, "--json", "run", ALGORITHM, "--"] + [f"{k}={v}" for k, v in params.items()]
    with subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        # Stopped, this process takes the run with it: killed alone, it left qgis_process to finish the run and
        # replace the outputs it was stopped from writing. Ctrl-C reaches both; a SIGINT to this process alone is
        # passed on, and the run cancels at its next step.
        main = threading.current_thread() is threading.main_thread()   # where Python lets handlers be set
        earlier = {number: signal.signal(number, lambda number, _frame: child.send_signal(number))
                   for number in (signal.SIGTERM, signal.SIGHUP) if main}
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            child.wait()
            raise
        except subprocess.TimeoutExpired:
            child.kill()
            raise
        finally:
            for number, handler in earlier.items():
                signal.signal(number, handler)
    result = None
    if child.returncode == 0:
        start = stdout.find("{")
        result = json.loads(stdout[start:]) if start >= 0 else None
    return child.returncode, result, stdout + stderr


if __name__ == "__main__":
    code, result, output = run_algorithm(dict(arg.split("=", 1) for arg in sys.argv[1:]))
    print(json.dumps(result, indent=2) if result else output)
    sys.exit(code)
