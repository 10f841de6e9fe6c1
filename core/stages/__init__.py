"""The stages of a run, each a function with a small typed result: align → block means → an AOI's surroundings →
analyst samples → prior → network → difference image → change layer → statistics; a module for each step of the
data (blocks: the aligned pair and its block means; outputs: the difference image and the change layer read from it).

pipeline.run composes them; a benchmark calls the ones it measures (bench_prior: align, block means,
prior), so it measures what a run does. Each stage reports its own progress (fractions of the whole
run), log lines and cancel checks.
"""
from .blocks import Blocks, align_pair, read_blocks
from .outputs import DIFFERENCE_NODATA, Difference, write_change, write_difference
from .prior import PriorResult, compute_prior, marked_within, white_places, within_aoi
from .samples import read_samples
from .statistics import collect_stats
from .surroundings import Ground, Surroundings, read_surroundings
from .training import Trained, train_network

__all__ = ["DIFFERENCE_NODATA", "Blocks", "Difference", "Ground", "PriorResult", "Surroundings", "Trained",
           "align_pair", "collect_stats", "compute_prior", "marked_within", "read_blocks", "read_samples",
           "read_surroundings", "train_network", "white_places", "within_aoi", "write_change", "write_difference"]
