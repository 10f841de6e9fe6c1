"""Progress reporting and cancellation shared by the pipeline, the Processing algorithm and the dock."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from .errors import Cancelled
from .i18n import tr

ReportFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


@dataclass
class Progress:
    """Reports the fraction done (0..1) with a message and raises Cancelled when asked to stop.

    ``span`` maps a sub-step's own 0..1 range onto a slice of the parent's range, so each step
    reports its own progress without knowing where it sits in the whole run.
    """

    report: Optional[ReportFn] = None
    is_cancelled: Optional[CancelFn] = None
    start: float = 0.0
    stop: float = 1.0
    log: list = field(default_factory=list)

    def __call__(self, fraction: float, message: str = "") -> None:
        self.check()
        value = self.start + (self.stop - self.start) * min(max(fraction, 0.0), 1.0)
        if self.report is not None:
            self.report(value, message)

    def check(self) -> None:
        """Raise Cancelled if the caller asked to stop; called between steps."""
        if self.is_cancelled is not None and self.is_cancelled():
            raise Cancelled(tr("The run was cancelled."))

    def span(self, start: float, stop: float) -> Progress:
        width = self.stop - self.start
        return Progress(self.report, self.is_cancelled,
                        self.start + width * start, self.start + width * stop, self.log)

    def throttled(self, message: Callable[[int], str], steps: int = 20) -> Callable[[float], None]:
        """A report(fraction) for a long loop that calls it often: the fraction on this Progress with
        message(percent), only when it has grown by a `steps`-th, so a front end is not flooded."""
        shown = -1

        def report(fraction: float) -> None:
            nonlocal shown
            step = int(min(max(fraction, 0.0), 1.0) * steps)
            if step > shown:
                shown = step
                self(step / steps, message(round(100 * step / steps)))
        return report

    def info(self, message: str) -> None:
        """Keep a message for the run's log (shown by the front end)."""
        self.log.append(message)
