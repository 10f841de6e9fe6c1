"""Online training on the sample pair: labels where the change is, both arithmetics, seeds, cancel."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from oaip_qgis.core.errors import Cancelled, InputError
from oaip_qgis.core.integer import kernels
from oaip_qgis.core.labels.margins import CHANGED, UNCHANGED, margin_labels
from oaip_qgis.core.model.detector import Detector
from oaip_qgis.core.model.patches import crop_windows, read_crops
from oaip_qgis.core.model.train import SEED_STRIDE, TrainConfig, seeds, train_detector
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.progress import Progress
from oaip_qgis.core.raster.on_grid import read_on_grid
from oaip_qgis.core.stages import align_pair, compute_prior, read_blocks

FAST = TrainConfig(crop=16, crops=16, batch=8)
ONE = replace(FAST, networks=1)


@pytest.fixture(scope="module")
def prepared(sample_pair):
    """A run's stages up to training (aligned pair, normalisers, prior on block means) and the truth."""
    params = RunParams(t1=sample_pair["t1"], t2=sample_pair["t2"])
    with align_pair(params, []) as pair:
        prior = compute_prior(read_blocks(pair, params, Progress()), params, Progress())
        truth = read_on_grid(sample_pair["truth"], pair.grid) > 0
        yield {"pair": pair, "norms": (prior.norm1, prior.norm2), "prior": prior.prior, "block": prior.block,
               "truth": truth}


def run(prepared, mode="int8", seed=0, epochs=2, analyst=None, progress=None, config=FAST, prune=False):
    params = RunParams(t1="", t2="", mode=mode, seed=seed, epochs=epochs, prune=prune)
    return train_detector(prepared["pair"], prepared["norms"], prepared["prior"], prepared["block"], analyst, params,
                          progress or Progress(), config)


def whole(prepared):
    x1, x2, valid = prepared["pair"].read()
    n1, n2 = prepared["norms"]
    return np.where(valid, n1.apply(x1), np.nan), np.where(valid, n2.apply(x2), np.nan), valid


def test_changed_training_labels_lie_mostly_inside_the_true_change(prepared):
    labels = margin_labels(prepared["prior"])
    b, truth = prepared["block"], prepared["truth"]
    windows = crop_windows(labels, b, truth.shape, 32, 64, seed=0, align=b)
    crops = read_crops(prepared["pair"], prepared["norms"], windows, labels, b, b, 2)
    inside = {CHANGED: [], UNCHANGED: []}
    for window, lab in zip(crops.windows, crops.labels):
        # each output covers 4×4 pixels; its truth is the majority of them
        t = truth[window.slices()].reshape(lab.shape[0], 4, lab.shape[1], 4).mean(axis=(1, 3)) > 0.5
        for cls in inside:
            inside[cls].append(t[lab == cls])
    changed, unchanged = np.concatenate(inside[CHANGED]), np.concatenate(inside[UNCHANGED])
    assert changed.size > 50 and unchanged.size > 50
    assert changed.mean() > 0.7          # most "changed" labels are truly changed
    assert unchanged.mean() < 0.05       # "unchanged" labels are almost all unchanged
    assert changed.mean() > 5 * truth.mean()   # far richer in change than the image


@pytest.mark.parametrize("mode", ["int8", "fp32"])
def test_both_arithmetics_give_valid_probabilities_and_stats(prepared, mode):
    detector, stats = run(prepared, mode)
    x1, x2, valid = whole(prepared)
    prob = detector.network_probability(x1, x2)
    assert prob.dtype == np.float32 and prob.shape == valid.shape
    assert np.isfinite(prob).all() and prob.min() >= 0 and prob.max() <= 1
    assert prob.std() > 0                      # not a constant map
    training = stats.training
    assert len(training["loss"]) == 2 and training["peak_bytes"] > 0
    assert training["pseudo_labels"]["changed"] > 0 and training["pseudo_labels"]["unchanged"] > 0
    assert stats.model["params_after"] == stats.model["params_before"]   # no pruning asked
    if mode == "int8":
        assert training["peak_bytes"] < training["fp32_equivalent_peak_bytes"]
        assert stats.model["compression_ratio"] == pytest.approx(4.0)


def test_the_same_seed_gives_the_identical_int8_result_and_another_seed_does_not(prepared):
    x1, x2, _ = whole(prepared)
    first = run(prepared, seed=5)[0].network_probability(x1, x2)
    again = run(prepared, seed=5)[0].network_probability(x1, x2)
    other = run(prepared, seed=6)[0].network_probability(x1, x2)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_cancel_stops_training(prepared):
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        run(prepared, progress=Progress(is_cancelled=cancelled), epochs=3)
    assert len(calls) == 4                     # it stopped at the first check after the request


def test_analyst_samples_are_trained_on(prepared):
    analyst = np.full(prepared["truth"].shape, -1, np.int8)
    analyst[40:44, 40:44] = 1
    _, stats = run(prepared, analyst=analyst)
    assert stats.training["pseudo_labels"]["analyst"] == 16


def test_a_prior_without_valid_cells_is_refused(prepared):
    with pytest.raises(InputError, match="no valid cell"):
        run({**prepared, "prior": np.full_like(prepared["prior"], np.nan)})


@pytest.mark.skipif(not kernels.built(), reason="the compiled kernels are not built (make setup)")
def test_compiled_kernels_and_torch_ops_train_the_identical_detector(prepared):
    """With pruning, so that layers change shape on the way (frozen ones too: their features are
    computed again) and the optimiser's state is laid out anew."""
    x1, x2, _ = whole(prepared)
    fast_detector, fast = run(prepared, epochs=4, prune=True, config=ONE)
    with kernels.disabled():
        ref_detector, ref = run(prepared, epochs=4, prune=True, config=ONE)
        ref_prob = ref_detector.network_probability(x1, x2)
    filters = {layer["name"]: layer["filters_after"] for layer in fast.pruning["layers"]}
    assert filters["a0"] < 16 or filters["b0"] < 16          # a frozen layer was pruned
    crops, side = fast.training["crops"], fast.training["crop"]
    assert fast.training["frozen_feature_bytes"] == crops * side**2 * (filters["a0"] + filters["b0"])
    assert (fast.training["integer_kernels"], ref.training["integer_kernels"]) == ("compiled", "torch")
    assert fast.pruning == ref.pruning and fast.training["loss"] == ref.training["loss"]
    assert fast.training["inference_shifts"] == ref.training["inference_shifts"]
    assert set(fast.training["inference_shifts"][0]) == set(filters) | {"head", "fuse"}
    assert np.array_equal(fast_detector.network_probability(x1, x2), ref_prob)


def test_no_two_seeds_share_a_network():
    """SEED 1000's networks were SEED 0's second and another; the bench's seeds keep theirs."""
    assert [seeds(s) for s in range(4)] == [[s, s + SEED_STRIDE] for s in range(4)]
    assert seeds(1000) == [2000, 3000] and seeds(2**31 - 1)[1] < 2**64
    drawn = [seed for s in [*range(0, 5000, 7), 999, 1000, 1999, 2000, 2**31 - 1] for seed in seeds(s)]
    assert len(drawn) == len(set(drawn))
    assert seeds(1000, networks=1) == [1000] and seeds(1000, networks=3) == [3000, 4000, 5000]


def test_the_detector_is_the_mean_of_networks_trained_from_their_own_seeds(prepared):
    """Its first network is the one a one-network run of the same seed trains; the second is another draw."""
    x1, x2, _ = whole(prepared)
    pair, stats = run(prepared, seed=3, prune=True, epochs=3)
    alone, alone_stats = run(prepared, seed=3, prune=True, epochs=3, config=ONE)
    first, second = (Detector([net], pair.spec, True, pair.cell).network_probability(x1, x2) for net in pair.nets)
    assert len(pair.nets) == stats.model["networks"] == stats.training["networks"] == 2
    assert stats.training["seeds"] == [3, 3 + SEED_STRIDE] and stats.initial_weights == "seeded (3, 1003)"
    assert np.array_equal(first, alone.network_probability(x1, x2))
    assert not np.array_equal(first, second)
    assert np.allclose(pair.network_probability(x1, x2), (first + second) / 2, atol=1e-6)
    # the model that runs is both networks: its figures are the sums of theirs
    kept = {layer["name"]: layer["filters_after"] for layer in alone_stats.pruning["layers"]}
    summed = {layer["name"]: layer["filters_after"] for layer in stats.pruning["layers"]}
    assert all(summed[name] >= kept[name] for name in kept) and summed != kept
    assert stats.model["params_before"] == 2 * alone_stats.model["params_before"]
    assert stats.model["params_after"] > alone_stats.model["params_after"]
    assert len(stats.training["inference_shifts"]) == 2 and len(stats.pruning["final_rates"]) == 2


def test_a_run_trains_at_least_one_network(prepared):
    with pytest.raises(InputError, match="at least one network"):
        run(prepared, config=replace(FAST, networks=0))
