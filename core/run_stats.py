"""A run's statistics as one type: what stats.json holds, what the dock shows and the benchmarks read.

The run builds a RunStats; a re-threshold (core.rethreshold, the dock's slider) derives another from
it with `dataclasses.replace`, so the two never drift apart. `to_dict` is stats.json key for key (the
parts a run did not make are left out, not null) and `from_dict` reads such a file back.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Optional

from .raster.grid import Grid


@dataclass(frozen=True)
class ModelStats:
    """What training reports (model.train), as stats.json nests it: sizes and BOPs before and after
    pruning per layer (`model`), the filters each layer kept (`pruning`), both summed over the run's
    networks, which all run, and the training's own figures (`training`: seconds, the largest network's
    memory, pseudo-labels, loss and accuracy per epoch as the networks' mean)."""

    initial_weights: str
    model: dict
    pruning: dict
    training: dict

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunStats:
    """The fields in stats.json's order; `network` is written as its four top-level keys."""

    mode: str
    seed: int
    device: str
    threshold_method: str
    threshold: float
    prior_cut: float                  # where the prior crosses the score's 0.5 (decision.score)
    prior_threshold_method: str
    changed_fraction: float
    changed_area: float               # m²
    valid_pixels: int
    grid: Grid
    prior: str
    prior_block: int
    detector: str                     # "network" or "prior"
    evidence: dict                    # decision.evidence's verdict and whether it was applied
    direct_comparison: Optional[dict] = None     # labels.direct_comparison's verdict on the pair
    prior_one_sided: Optional[bool] = None       # the mapped prior counts one-sided change (stages.prior._mapped_prior)
    white_places: Optional[dict] = None          # white (cloud-like) places per optical image (stages.prior)
    network_confirmation: Optional[dict] = None  # decision.confirmation: the share vetoed, whether applied
    network: Optional[ModelStats] = None
    metrics: Optional[dict] = None    # accuracy against the reference, at `threshold`
    timing: dict = field(default_factory=dict)
    coregistration: Optional[dict] = None        # T2's shift found and undone (raster/coregister.py); None: not asked
    run_threshold: Optional[float] = None        # a re-threshold's: the run's own threshold and method
    run_threshold_method: Optional[str] = None
    polygons: Optional[int] = None               # a re-threshold's polygon count, when it wrote them
    extend_from_samples: Optional[bool] = None   # True where the analyst asked to find more like the samples
    parameters: Optional[dict] = None            # the run's parameters but its outputs (RunParams.recorded)
    release: Optional[str] = None                # the plugin's release that made the run (core.release)

    def to_dict(self) -> dict:
        values: dict = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "grid":
                values["grid"] = {"width": value.width, "height": value.height, "crs_wkt": value.crs_wkt,
                                  "transform": list(value.transform)}
            elif item.name == "network":
                values.update(value.to_dict() if value is not None else {})
            elif value is not None:
                values[item.name] = value
        return values

    @classmethod
    def from_dict(cls, values: dict) -> RunStats:
        values = dict(values)
        grid = values.pop("grid")
        network = [values.pop(item.name) for item in fields(ModelStats) if item.name in values]
        return cls(**values, grid=Grid(grid["crs_wkt"], tuple(grid["transform"]), grid["width"], grid["height"]),
                   network=ModelStats(*network) if network else None)
