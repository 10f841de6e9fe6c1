"""Installing torch for QGIS's Python, the plain-Python part: interpreter, folder, command, pip's output."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from oaip_qgis.deps.pip_install import (
    TORCH_CPU_INDEX,
    TORCH_VERSION,
    PipInstall,
    add_to_sys_path,
    deps_folder,
    find_python,
    installed_version,
    numpy_constraint,
    write_constraints,
)
from oaip_qgis.deps.pip_output import Failure, PipProgress, classify_failure, folder_bytes, last_error

REPO = Path(__file__).resolve().parents[2]


def test_the_pinned_torch_is_the_one_requirements_txt_pins():
    pins = dict(line.split("==") for line in (REPO / "requirements.txt").read_text().split() if "==" in line)
    assert pins["torch"] == TORCH_VERSION


@pytest.mark.parametrize("platform, executable, base_prefix, present, expected", [
    ("linux", "/usr/bin/qgis", "/usr", {"/usr/bin/python3.11"}, "/usr/bin/python3.11"),
    ("linux", "/usr/bin/qgis_process.bin", "/usr", {"/usr/bin/python3.11"}, "/usr/bin/python3.11"),
    ("darwin", "/Applications/QGIS.app/Contents/MacOS/QGIS", "/Applications/QGIS.app/Contents/Frameworks/x",
     {"/Applications/QGIS.app/Contents/MacOS/bin/python3.11"}, "/Applications/QGIS.app/Contents/MacOS/bin/python3.11"),
    ("win32", r"C:\OSGeo4W\bin\qgis-ltr-bin.exe", r"C:\OSGeo4W\apps\Python311",
     {r"C:\OSGeo4W\apps\Python311\python.exe"}, r"C:\OSGeo4W\apps\Python311\python.exe"),
    ("win32", r"C:\Program Files\QGIS 3.22\bin\qgis-bin.exe", r"C:\Program Files\QGIS 3.22\apps\Python39",
     {r"C:\Program Files\QGIS 3.22\bin\python3.exe"}, r"C:\Program Files\QGIS 3.22\bin\python3.exe"),
    ("win32", r"C:\OSGeo4W\bin\qgis-bin.exe", r"C:\OSGeo4W\apps\Python311", set(), None),
    ("linux", "/opt/venv/bin/python3", "/usr", set(), "/opt/venv/bin/python3"),   # outside QGIS: itself
    # QGIS on Debian under pyenv: embedded Python's sys.executable is the PATH's python3, not QGIS's
    ("linux", "/root/.pyenv/shims/python3", "/usr", {"/usr/bin/python3.11"}, "/usr/bin/python3.11"),
    ("win32", r"C:\Users\a\miniconda3\python.exe", r"C:\OSGeo4W\apps\Python311",
     {r"C:\OSGeo4W\apps\Python311\python.exe"}, r"C:\OSGeo4W\apps\Python311\python.exe"),
])
def test_the_interpreter_is_found_beside_qgis_not_qgis_itself(platform, executable, base_prefix, present, expected):
    prefix = "/opt/venv" if executable.startswith("/opt/venv") else base_prefix   # a venv's sys.prefix is itself
    found = find_python(executable=executable, base_prefix=base_prefix, platform=platform, version=(3, 11),
                        is_file=present.__contains__, which=lambda name: None, prefix=prefix)
    assert found == expected


def test_on_linux_the_path_is_searched_last():
    found = find_python(executable="/usr/bin/qgis", base_prefix="/nowhere", platform="linux", version=(3, 11),
                        is_file=lambda path: False, which={"python3.11": "/usr/local/bin/python3.11"}.get)
    assert found == "/usr/local/bin/python3.11"


def test_as_qgis_on_this_machine_the_interpreter_found_is_this_python_version():
    python = find_python(executable="/usr/bin/qgis")   # sys.base_prefix and the files of this machine
    assert python is not None
    done = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == [str(part) for part in sys.version_info[:2]]


def test_the_folder_is_in_the_profile_and_per_python_version():
    assert deps_folder("/home/a/.local/share/QGIS/QGIS3/profiles/default", (3, 11)) == \
        "/home/a/.local/share/QGIS/QGIS3/profiles/default/python/oaip_deps/py311"


def test_the_folder_goes_after_the_standard_library_and_before_site_packages(tmp_path):
    path = ["/plugins", "/usr/lib/python3.11", "/usr/lib/python3.11/lib-dynload", "/venv/lib/site-packages",
            "/usr/lib/python3/dist-packages"]
    assert add_to_sys_path(str(tmp_path), path)
    assert path.index(str(tmp_path)) == 3
    assert not add_to_sys_path(str(tmp_path), path) and path.count(str(tmp_path)) == 1
    assert not add_to_sys_path(str(tmp_path / "missing"), path) and len(path) == 6


def test_numpy_is_held_at_the_installed_version(tmp_path):
    assert numpy_constraint("1.24.2") == "numpy==1.24.2"
    assert numpy_constraint(None) == "numpy<2"
    path = write_constraints(str(tmp_path / "deps"), installed_version("numpy"))
    import numpy

    assert Path(path).read_text().strip() == f"numpy=={numpy.__version__}"
    assert installed_version("no-such-distribution-oaip") is None


def test_the_command_pins_torch_to_the_cpu_index_into_the_target():
    install = PipInstall(python="/usr/bin/python3.11", target="/p/oaip_deps/py311", constraints="/p/c.txt")
    argv = install.argv()
    assert argv[:4] == ["/usr/bin/python3.11", "-m", "pip", "install"]
    assert argv[argv.index("--target") + 1] == "/p/oaip_deps/py311"
    assert argv[argv.index("--index-url") + 1] == TORCH_CPU_INDEX
    assert argv[argv.index("--constraint") + 1] == "/p/c.txt"
    assert argv[-1] == f"torch=={TORCH_VERSION}" and "--no-index" not in argv
    assert shlex.split(install.text("linux")) == argv


def test_the_package_and_its_source_can_be_replaced():
    install = PipInstall(python="python", target="/t", requirements=("oaip_fake_torch",), index_url=None,
                         find_links="/wheels")
    argv = install.argv()
    assert "--no-index" in argv and "--index-url" not in argv and "--constraint" not in argv
    assert argv[argv.index("--find-links") + 1] == "/wheels" and argv[-1] == "oaip_fake_torch"


def test_the_windows_command_quotes_paths_with_spaces():
    install = PipInstall(python=r"C:\Program Files\QGIS 3.22\apps\Python39\python.exe",
                         target=r"C:\Users\a b\AppData\Roaming\QGIS\QGIS3\profiles\default\python\oaip_deps\py39")
    text = install.text("win32")
    assert text.startswith(r'"C:\Program Files\QGIS 3.22\apps\Python39\python.exe" -m pip install')
    assert r'"C:\Users\a b\AppData\Roaming\QGIS\QGIS3\profiles\default\python\oaip_deps\py39"' in text


TORCH_URL = "https://download.pytorch.org/whl/cpu/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl"


def test_progress_follows_pips_steps_and_the_downloads_bytes():
    progress, seen = PipProgress(), []
    assert progress.feed("Looking in indexes: https://download.pytorch.org/whl/cpu") is False
    assert progress.feed("Collecting torch==2.13.0\n")
    seen.append(progress.fraction)
    assert progress.feed(f"  Downloading {TORCH_URL} (191.8 MB)\n", temp_bytes=1_000)
    assert progress.step == "Downloading torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl (191.8 MB)"
    seen.append(progress.fraction)
    progress.downloaded(1_000 + 95_900_000)   # half of the wheel has reached pip's temporary folder
    assert progress.download_done == pytest.approx(95.9e6) and progress.fraction == pytest.approx(0.45, abs=0.01)
    seen.append(progress.fraction)
    progress.downloaded(10**12)               # more than announced: counted as the whole file
    assert progress.download_done == pytest.approx(191.8e6)
    assert progress.feed("Collecting filelock\n")
    assert progress.feed("  Using cached filelock-3.20.0-py3-none-any.whl (16 kB)\n")
    seen.append(progress.fraction)
    assert progress.feed("Installing collected packages: filelock, torch\n")
    seen.append(progress.fraction)
    assert progress.feed("Successfully installed filelock-3.20.0 torch-2.13.0+cpu\n")
    seen.append(progress.fraction)
    assert seen == sorted(seen) and seen[-1] == 1.0 and seen[-2] == pytest.approx(0.9)


@pytest.mark.parametrize("output, failure", [
    ("WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection "
     "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to "
     "establish a new connection: [Errno -3] Temporary failure in name resolution')': /whl/cpu/torch/\n"
     "ERROR: Could not find a version that satisfies the requirement torch==2.13.0 (from versions: none)\n"
     "ERROR: No matching distribution found for torch==2.13.0\n", Failure.OFFLINE),
    ("WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection "
     "broken by 'ProxyError('Cannot connect to proxy.', NewConnectionError('<…>: Failed to establish a new "
     "connection: [Errno 111] Connection refused'))': /whl/cpu/torch/\n", Failure.PROXY),
    ("WARNING: Retrying (…) after connection broken by 'ProxyError('Cannot connect to proxy.', OSError('Tunnel "
     "connection failed: 407 Proxy Authentication Required'))': /whl/cpu/torch/\n", Failure.PROXY),
    ("Could not fetch URL https://download.pytorch.org/whl/cpu/torch/: There was a problem confirming the ssl "
     "certificate: HTTPSConnectionPool(…): Max retries exceeded (Caused by SSLError(SSLCertVerificationError(1, "
     "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain"
     "')))\n", Failure.CERTIFICATE),
    ("/usr/bin/python3.11: No module named pip\n", Failure.NO_PIP),
    ("ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n", Failure.NO_SPACE),
    ("ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied: '/opt/x'\n",
     Failure.PERMISSION),
    ("ERROR: Could not find a version that satisfies the requirement torch==2.13.0 (from versions: 2.5.1)\n"
     "ERROR: No matching distribution found for torch==2.13.0\n", Failure.NO_WHEEL),
    ("ERROR: Exception:\nTraceback (most recent call last):\nValueError: boom\n", Failure.OTHER),
])
def test_failures_are_told_apart_by_pips_output(output, failure):
    assert classify_failure(output) is failure


def test_the_last_error_line_is_what_the_message_quotes():
    output = "Collecting x\nERROR: first\nERROR: No matching distribution found for x\n\n"
    assert last_error(output) == "No matching distribution found for x"
    assert last_error("Traceback …\nValueError: boom\n") == "ValueError: boom"


def test_folder_bytes_counts_the_files_below(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "part.whl").write_bytes(b"x" * 1234)
    (tmp_path / "b.txt").write_bytes(b"y" * 10)
    assert folder_bytes(str(tmp_path)) == 1244
    assert folder_bytes(str(tmp_path / "missing")) == 0


def test_the_plain_modules_import_without_qgis():
    code = ("import sys; sys.modules['qgis'] = None\n"
            "import oaip_qgis.deps.pip_install, oaip_qgis.deps.pip_output\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
