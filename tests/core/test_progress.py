"""Progress: a long loop's many reports reach the front end as a few growing steps."""
from oaip_qgis.core.progress import Progress


def test_throttled_reports_each_step_once_on_the_parents_slice():
    seen = []
    progress = Progress(report=lambda value, message: seen.append((round(value, 4), message)))
    report = progress.span(0.2, 0.6).throttled(lambda percent: f"{percent} %", steps=4)
    for i in range(101):
        report(i / 100)
    report(1.5)                                   # beyond the end: not reported again
    assert seen == [(0.2, "0 %"), (0.3, "25 %"), (0.4, "50 %"), (0.5, "75 %"), (0.6, "100 %")]
