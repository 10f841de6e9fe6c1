"""`make batch` / `python -m oaip_qgis.core.batch`: detect changes for every pair of a table on Dask.

Exit status: 0 when every pair is done or skipped, 1 when some pair failed (the others completed; the
summary lists why), 2 when the table or the options cannot be used (nothing was run).
"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import TextIO

from ..errors import Cancelled, OaipError
from ..i18n import tr
from ..progress import Progress
from .runner import EchoLog, run_batch
from .table import assignments, shell_words

BAR = 30


class Bar:
    """A one-line text progress bar on stderr (redrawn in place on a terminal, one line per pair otherwise)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, fraction: float, message: str) -> None:
        filled = int(round(BAR * fraction))
        line = f"[{'#' * filled}{'.' * (BAR - filled)}] {100 * fraction:5.1f} % {message}"
        self.stream.write(f"\r{line:<100}" if self.tty else line + "\n")
        self.stream.flush()

    def info(self, message: str) -> None:
        self.stream.write(("\n" if self.tty else "") + message + "\n")
        self.stream.flush()


def _parameters(items: list[str], text: str = "") -> dict[str, str]:
    """The --param items and those of --params (make's PARAMS, split as a shell would)."""
    return assignments([*items, *shell_words(text)], "--param and --params")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", help="CSV file or GeoPackage with columns t1, t2 [name, reference, aoi, samples, "
                                      "any run parameter]")
    parser.add_argument("--out", required=True, help="output folder: one sub-folder per pair, summary.gpkg/json")
    parser.add_argument("--layer", help="layer of a GeoPackage table (default: its first)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    parser.add_argument("--workers", type=int, help="local cluster's workers (default: one per core)")
    parser.add_argument("--force", action="store_true", help="run pairs whose complete outputs exist again")
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE for every row (a cell wins)")
    parser.add_argument("--params", default="", help="several NAME=VALUE in one string, split as a shell would")
    args = parser.parse_args(argv)
    bar = Bar()
    try:
        result = run_batch(args.pairs, args.out, scheduler=args.scheduler, workers=args.workers, force=args.force,
                           defaults=_parameters(args.param, args.params), layer=args.layer,
                           progress=Progress(report=bar, log=EchoLog(bar.info)))
    except Cancelled:
        print(tr("\nInterrupted: the pairs that finished keep their outputs; run again to do the rest."),
              file=sys.stderr)
        return 130
    except OaipError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 2
    totals = result.totals
    print(tr("\n{pairs} pair(s): {done} done, {skipped} skipped (complete outputs exist; --force redoes them), "
             "{failed} failed, in {seconds:.1f} s.", pairs=totals["pairs"], done=totals["done"],
             skipped=totals["skipped"], failed=totals["failed"], seconds=result.elapsed))
    for record in result.records:
        if record["status"] == "failed":
            print(f"  {record['name']}: {record['error']}")
    print(tr("Summary: {gpkg} (open it in QGIS) and {json}", gpkg=result.summary_gpkg, json=result.summary_json))
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    # A stop sent to the batch alone (kill, a job scheduler at its time limit) ends it as Ctrl-C does: the pairs not
    # finished are cancelled, said in one sentence, and their folders go; SIGTERM's default left empty pair folders.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(tr("\nInterrupted: the pairs that finished keep their outputs; run again to do the rest."),
              file=sys.stderr)
        sys.exit(130)
