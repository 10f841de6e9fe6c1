"""`make detect`'s command line becomes the algorithm's parameters."""
from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import detect  # noqa: E402
import qgis_headless  # noqa: E402
from detect import algorithm_params, earlier_outputs, failure_text, main, report, run_notes, written  # noqa: E402


def args(**extra) -> Namespace:
    values = dict(t1="a.tif", t2="b.tif", reference=None, mode="int8", seed="0", epochs=None, param=[], params="")
    return Namespace(**{**values, **extra})


def test_extra_parameters_pass_through_and_override(tmp_path):
    params = algorithm_params(args(param=["aoi=/x/aoi.gpkg", "PRUNE = false", "MODE=prior"]), tmp_path)
    assert params["AOI"] == "/x/aoi.gpkg" and params["PRUNE"] == "false" and params["MODE"] == "prior"
    assert params["OUTPUT_CHANGE"] == tmp_path / "change.tif" and "REFERENCE" not in params


def test_params_in_one_string_keep_a_quoted_value_whole(tmp_path):
    """make's PARAMS was split at every space, so a path with one could not be passed."""
    params = algorithm_params(args(params='AOI="/x/my area.gpkg" PRUNE=false'), tmp_path)
    assert params["AOI"] == "/x/my area.gpkg" and params["PRUNE"] == "false"
    with pytest.raises(SystemExit, match="PARAMS cannot be split"):
        algorithm_params(args(params='AOI="/x/my area.gpkg'), tmp_path)


def test_inputs_become_absolute_paths_but_gdal_names_stay_as_given(tmp_path, monkeypatch):
    """`Path.resolve()` made /vsizip//data/p.zip/t1.tif into /vsizip/data/… (relative to nowhere) and put the
    working folder before NETCDF:"f.nc":Band1: the two forms the engine's own messages suggest named no file."""
    monkeypatch.chdir(tmp_path)
    params = algorithm_params(args(t1="/vsizip//data/p.zip/t1.tif", t2='NETCDF:"/data/t2.nc":Band1',
                                   reference="gt.tif"), tmp_path)
    assert params["T1"] == "/vsizip//data/p.zip/t1.tif" and params["T2"] == 'NETCDF:"/data/t2.nc":Band1'
    assert params["REFERENCE"] == str(tmp_path / "gt.tif")
    # An AOI or samples given as --param were recorded in stats.json as typed ('w/aoi.gpkg'), true only where the run
    # started; a layer QGIS names after the file is kept.
    params = algorithm_params(args(param=["AOI=w/aoi.gpkg|layername=flood", "samples=s.gpkg",
                                          "VGG16_WEIGHTS=w/vgg16.pth"]), tmp_path)
    assert params["AOI"] == f"{tmp_path / 'w' / 'aoi.gpkg'}|layername=flood"
    assert params["SAMPLES"] == str(tmp_path / "s.gpkg")
    assert params["VGG16_WEIGHTS"] == str(tmp_path / "w" / "vgg16.pth")   # stats.json's initial_weights names it
    # '~' reaches no shell in PARAMS='AOI=~/…' or a quoted --t1: it was the working folder's '~' folder
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    params = algorithm_params(args(t1="~/t1 ~.tif", param=["AOI=~/aoi.gpkg"]), tmp_path)
    assert (params["T1"], params["AOI"]) == (str(tmp_path / "home" / "t1 ~.tif"), str(tmp_path / "home" / "aoi.gpkg"))


def test_a_parameter_without_a_value_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        algorithm_params(args(param=["PRUNE"]), tmp_path)


def test_the_report_gives_the_dock_s_sections_of_the_run_s_statistics(tmp_path):
    """`make detect` wrote its own summary of stats.json beside the dock's sections, without the verdict, the
    network's confirmation or what pruning removed: one reading of the statistics now serves both."""
    stats = {"mode": "int8", "seed": 0, "device": "cpu", "detector": "network", "threshold_method": "otsu",
             "threshold": 0.5, "prior_cut": 0.3, "prior_threshold_method": "otsu", "changed_fraction": 0.1,
             "changed_area": 100.0, "valid_pixels": 1000, "timing": {"total": 1.0},
             "evidence": {"significant": True, "weak": False, "peak": 6.7, "no_change_peak": 2.3},
             "network_confirmation": {"vetoed_share": 0.113, "least_share": 0.12, "applied": False},
             "metrics": {"oa": 0.9, "kappa": 0.8, "f1": 0.7, "precision": 0.6, "recall": 0.5, "auc": None,
                         "reference_coverage": 0.25}}
    text = report(stats, {"OUTPUT_STATS": str(tmp_path / "s.json")})
    assert text.index("Statistics:") < text.index("\nResult\n") < text.index("\nAccuracy against the reference\n")
    assert "  Evidence:" in text and "change found: the most disagreeing 0.5 % is 6.7×" in text
    assert "  Prior's cut:" in text and "0.3000 (otsu)" in text
    assert "  Kappa:" in text and "0.8000" in text and "25.0 % of the valid pixels" in text
    assert "not applied: the network vetoes only 11.3 % of the prior's change (under 12 %)" in text


def test_the_report_names_the_outputs_this_run_wrote_and_reads_its_own_statistics(tmp_path):
    """`make detect` read OUT/stats.json whatever OUTPUT_STATS said: another run's figures, or a traceback when
    it was left empty."""
    params = algorithm_params(args(param=["OUTPUT_STATS=/elsewhere/s.json", "OUTPUT_CONFIDENCE="]), tmp_path)
    paths = written(params, {"results": {"OUTPUT_CHANGE": "/tmp/real/change.tif"}})
    assert paths["OUTPUT_STATS"] == "/elsewhere/s.json" and paths["OUTPUT_CHANGE"] == "/tmp/real/change.tif"
    assert "OUTPUT_CONFIDENCE" not in paths
    text = report(None, written(algorithm_params(args(param=["OUTPUT_STATS="]), tmp_path), None))
    assert "Statistics:" not in text and "No statistics were asked for" in text and "Change layer:" in text


def test_the_runs_warnings_and_notes_are_printed():
    """qgis_process's JSON log: an ignored THRESHOLD and the complex-band note reach the terminal."""
    result = {"log": {"info": ["Grid: 10 x 10 pixels.", "T2: complex band(s) 1 (CFloat32) (SAR SLC) are taken as "
                                                        "their intensity |z|²."],
                      "warning": ["THRESHOLD 0.3 is ignored: THRESHOLD_METHOD is otsu3."]}}
    assert run_notes(result).splitlines() == ["Warning: THRESHOLD 0.3 is ignored: THRESHOLD_METHOD is otsu3.",
                                              "Grid: 10 x 10 pixels.",
                                              "T2: complex band(s) 1 (CFloat32) (SAR SLC) are taken as their "
                                              "intensity |z|²."]
    assert run_notes(None) == "" and run_notes({"log": ["a note"]}) == "a note"


def test_a_failed_run_is_told_once_without_the_start_up_chatter():
    sentence = "T1: 'a.tif' has a rotated geotransform, which the outputs' grid cannot take."
    output = "\n".join(["<string>:1: DeprecationWarning: setapi() is deprecated",
                        "Logged warning: Creating Warped VRT.", sentence, sentence, "",
                        "QStandardPaths: XDG_RUNTIME_DIR not set, defaulting to '/tmp/x'"])
    assert failure_text(output) == sentence


def test_the_libraries_diagnostics_give_way_to_the_sentence():
    """QGIS tries its readers on a file that is no raster: HDF5's stack and GDAL's errors came first."""
    sentence = "\tT1: '/tmp/x.tif' is not a raster that GDAL can read (not recognized as a supported file format.)."
    noise = ["HDF5-DIAG: Error detected in HDF5 (1.10.8) thread 1:",
             "  #000: ../../../src/H5F.c line 620 in H5Fopen(): unable to open file", "    major: File accessibilty",
             "    minor: Unable to open file", "ERROR 4: `/tmp/x.tif' not recognized as a supported file format.",
             "ERROR: Status 3: Unable to load mesh (null)", "Warning 1: TIFFReadDirectory: unknown field",
             ", filename = '/tmp/x', file descriptor = 11, errno = 21, error message = 'Is a directory', offset = 0"]
    error = "ERROR:\tAn error was encountered while checking parameter values"
    assert failure_text("\n".join(noise + [error, sentence])).splitlines() == [error, sentence]
    assert failure_text("\n".join(noise)).splitlines() == noise   # nothing else said: the diagnostics stay


@pytest.mark.parametrize("name, reason", [("a_file", "it is a file"), ("a_file/below", "Not a directory")])
def test_an_output_folder_that_cannot_be_made_is_one_sentence(tmp_path, monkeypatch, capsys, name, reason):
    """OUT naming a file (or a folder under one) ended in a FileExistsError traceback."""
    (tmp_path / "a_file").write_text("")
    monkeypatch.setattr(sys, "argv", ["detect.py", "--t1", "a.tif", "--t2", "b.tif", "--out", str(tmp_path / name)])
    assert main() == 2
    assert capsys.readouterr().err.strip() == (f"OUT: '{tmp_path / name}' cannot be used as the output folder "
                                               f"({reason}): give a folder that can be made or written to.")



@pytest.mark.parametrize("stopped, code, name", [((-15, None, ""), 143, "SIGTERM"),
                                                 (KeyboardInterrupt(), 130, "SIGINT")])
def test_a_run_stopped_by_a_signal_is_one_sentence(tmp_path, monkeypatch, capsys, stopped, code, name):
    """Ctrl-C ended in a traceback through subprocess; a SIGTERM was silent (and left qgis_process running)."""
    def run_algorithm(_params):
        if isinstance(stopped, BaseException):
            raise stopped
        return stopped

    monkeypatch.setattr(detect, "run_algorithm", run_algorithm)
    monkeypatch.setattr(sys, "argv", ["detect.py", "--t1", "a.tif", "--t2", "b.tif", "--out", str(tmp_path / "o")])
    assert main() == code
    assert capsys.readouterr().err.startswith(f"Stopped ({name}) before the run ended")
    assert not (tmp_path / "o").exists()   # the folder it made, empty, goes


def test_a_sigterm_reaches_qgis_process(tmp_path, monkeypatch):
    """Killed with SIGTERM, detect.py ended and left qgis_process to finish the run and replace the outputs."""
    import os
    import signal
    import threading
    import time

    fake = tmp_path / "qgis_process"
    fake.write_text(f"""#!/bin/sh
[ "$1" = plugins ] && exit 0
trap 'echo TERM > {tmp_path}/got; exit 143' TERM
echo > {tmp_path}/started
i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
""")
    fake.chmod(0o755)
    monkeypatch.setattr(qgis_headless, "QGIS_PROCESS", str(fake))

    def stop() -> None:
        while not (tmp_path / "started").exists():
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop, daemon=True).start()
    code, _, _ = qgis_headless.run_algorithm({}, profile=tmp_path / "profile")
    assert code == 143 and (tmp_path / "got").read_text().strip() == "TERM"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL   # this process's own handling comes back


def test_qgis_process_finds_the_python_this_venv_was_made_from_first(tmp_path):
    """With pyenv's or conda's python3 first on PATH, QGIS's embedded Python took its standard library and
    failed in HTML ("Couldn't load SIP module")."""
    import os

    path = qgis_headless.environment(REPO, tmp_path)["PATH"].split(os.pathsep)
    assert path[0] == os.path.dirname(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    assert os.path.isfile(os.path.join(path[0], "python3"))


def test_outputs_turned_off_whose_earlier_files_stay_are_named(tmp_path):
    """A run with OUTPUT_STATS= into a folder of an earlier run left its stats.json (another grid) unsaid."""
    (tmp_path / "stats.json").write_text("{}")
    params = algorithm_params(args(mode="PRIOR", param=["OUTPUT_STATS="]), tmp_path)
    assert params["MODE"] == "prior"   # as the batch and Processing read a choice
    assert earlier_outputs(params, tmp_path) == (f"\nNote: '{tmp_path / 'stats.json'}' is an earlier run's: this "
                                                 "run did not write it.")
