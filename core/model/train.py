"""Online training of the dual-VGG detector on the image pair itself, from pseudo-labels of the prior.

Labels: the prior's confident places (labels/margins.py), analyst samples win.

Training: crops around labelled cells with dense labels (patches.py), a few epochs of all-integer
training (NITI rules, engine in core/integer) or of the fp32 twin with the same update rule, L1
filter pruning between epochs (pruning.py). NETWORKS networks, each from its own seed, whose mean
probability is the detector's.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from ..errors import InputError
from ..i18n import tr
from ..integer import kernels
from ..integer.adamax import IntAdaMax
from ..integer.sgd import SCHEDULE as SGD_SCHEDULE
from ..integer.sgd import IntSGD, mu_for
from ..integer.tensor import BlockTensor
from ..labels.margins import CHANGED, CHANGED_ABOVE, UNCHANGED, UNCHANGED_BELOW, margin_labels
from ..run_stats import ModelStats
from .accounting import Costs, combined, costs, held_bytes, model_figures, pruning_figures
from .detector import Detector
from .dual_vgg import FloatDualVGG, IntDualVGG, Spec, quantise_input
from .init_weights import initial_weights
from .patches import Crops, crop_windows, read_crops
from .pruning import AdaptivePruner

if TYPE_CHECKING:
    from ..normalise import Normaliser
    from ..params import RunParams
    from ..progress import Progress
    from ..raster.align import AlignedPair

# Networks a run trains, each from its own seed (crops, initial weights, batch order, stochastic rounding), the
# detector's probability their mean. One network's draw moves a map by up to 0.19 Kappa with the prior kept
# (urban-optical 0.507–0.696); on the eight shared pairs, each prior of seeds 0–3 with three networks
# (bench/RESULTS.md, build/exp32/ensemble.py), the mean of two gave +0.0043 ± 0.0013 over its single networks
# (no pair lower on average; runs more than 0.03 below their prior 8 → 4 of 96); three added nothing more.
NETWORKS = 2
# Network k of a run with SEED s under SEED_STRIDE trains with seed s + k·SEED_STRIDE: apart from the seeds an
# analyst tries next. Each further SEED_STRIDE seeds take their own block of NETWORKS·SEED_STRIDE network seeds, so
# no two SEEDs share a network (SEED 1000's first network was SEED 0's second before release 0.15.1).
SEED_STRIDE = 1000


@dataclass(frozen=True)
class TrainConfig:
    """Everything the training decides besides RunParams; the defaults are the measured ones."""

    widths: tuple = Spec.widths   # the branches' layout (model/dual_vgg.py)
    frozen: int = Spec.frozen
    # Side of the cells the network sees, in pixels (None: the prior's block). With the confirmed score
    # (decision.score), int8 mean Kappa over the eight shared pairs, seeds 0–3: the prior's 2-px blocks
    # 0.705, the pixels themselves 0.716 (better or equal on seven pairs; release 0.4). With this release's
    # constants every leave-one-pair-out fold picks the pixels again (bench/RESULTS.md).
    cell: Optional[int] = 1
    crop: int = 32            # crop side in cells
    crops: int = 256          # crops read once, cycled through every epoch
    batch: int = 16
    unchanged_below: float = UNCHANGED_BELOW   # the pseudo-label rule's margins (labels/margins.py)
    changed_above: float = CHANGED_ABOVE
    optimiser: str = "adamax"     # or "sgd": NITI's layer-wide integer SGD (int8; the fp32 twin keeps AdaMax)
    schedule: Optional[tuple] = None  # μ per share of the training (None: the optimiser's own, SCHEDULES)
    networks: int = NETWORKS

    def spec(self) -> Spec:
        return Spec(widths=self.widths, frozen=self.frozen)


OPTIMISERS = {"adamax": IntAdaMax, "sgd": IntSGD}
# μ, the log2 of the largest step in weight quanta, per third of the training: AdaMax scales each weight
# itself; SGD's layer-wide steps need larger μ (sgd.SCHEDULE, measured there).
SCHEDULES = {"adamax": (0, 0, -1), "sgd": SGD_SCHEDULE}


class _IntRunner:
    """One training step of the integer network: every tensor int8/int32/int64, no float."""

    integer = True

    def __init__(self, net: IntDualVGG, seed: int, optimiser: str = "adamax") -> None:
        if optimiser not in OPTIMISERS:
            raise InputError(tr("The integer optimiser must be one of {names}, not {optimiser!r}.",
                                names=sorted(OPTIMISERS), optimiser=optimiser))
        self.net = net
        self.optimiser = OPTIMISERS[optimiser](seed)

    def inputs(self, x: np.ndarray) -> BlockTensor:
        return quantise_input(torch.from_numpy(x))

    def step(self, f1: BlockTensor, f2: BlockTensor, y: torch.Tensor, mu: int) -> torch.Tensor:
        """One step from the frozen layers' features (net.frozen_features); returns 128·P(changed) at
        every output (int64)."""
        self.net.forward_features(f1, f2, train=True)
        p = self.net.loss_and_backward(y)
        self.optimiser.step(self.net.convs, mu)
        return p


class _FloatRunner:
    """The fp32 twin: autograd gradients and the same AdaMax rule in float (steps of 2^μ weight quanta,
    the quantum being what the int8 weight's mantissa step would be)."""

    integer = False

    def __init__(self, net: FloatDualVGG) -> None:
        self.net = net
        self.quantum = {}
        for name, p in net.params.items():
            top = float(p.detach().abs().max())
            if p.requires_grad and top > 0:
                self.quantum[name] = 2.0 ** (math.ceil(math.log2(top)) - 7)
        self.state: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def inputs(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x)

    def step(self, f1: torch.Tensor, f2: torch.Tensor, y: torch.Tensor, mu: int) -> torch.Tensor:
        """One step from the frozen layers' features; returns 128·P(changed) at every output, rounded
        (int64) as the int8 runner does."""
        self.net.forward_features(f1, f2, train=True)
        p = self.net.loss_and_backward(y)
        with torch.no_grad():
            for name, w in self.net.params.items():
                if w.grad is None or name not in self.quantum:
                    continue
                m, u = self.state.get(name, (torch.zeros_like(w), torch.zeros_like(w)))
                if m.shape != w.shape:   # pruned since the last step
                    m, u = torch.zeros_like(w), torch.zeros_like(w)
                m = m * (7 / 8) + w.grad / 8
                u = torch.maximum(u * (15 / 16), w.grad.abs())
                self.state[name] = (m, u)
                w -= m / u.clamp(min=1e-30) * (self.quantum[name] * 2.0 ** mu)
                w.grad = None
        return (128 * p).round().long()


def _batches(n: int, batch: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return [order[i:i + batch] for i in range(0, n, batch)]


def _select(x, index: torch.Tensor):
    if isinstance(x, BlockTensor):
        return BlockTensor(x.m[index], x.e)
    return x[index]


def _bytes(x) -> int:
    t = x.m if isinstance(x, BlockTensor) else x
    return t.numel() * t.element_size()


def _frozen_shapes(net) -> tuple:
    return tuple(tuple(net.weight(name).shape) for name in net.names() if net.frozen(name))


@dataclass(frozen=True)
class TrainingSet:
    """What the network learns from: crops around the prior's confident places, densely labelled."""

    crops: Crops
    cell: int              # side of the network's cells, pixels
    pseudo_labels: dict    # the label counts stats.json reports


def training_set(pair: AlignedPair, normalisers: Sequence[Normaliser], labels: np.ndarray, block: int,
                 analyst: Optional[np.ndarray], seed: int, progress: Progress, config: TrainConfig) -> TrainingSet:
    """Crops drawn (seeded) around the prior's margin labels on its `block`-pixel cells (labels/margins.py;
    analyst samples win) and read from the pair; refused when a class is missing."""
    spec = config.spec()
    grid = pair.grid
    cell = config.cell or block
    side = min(config.crop, grid.height // cell, grid.width // cell) // spec.scale * spec.scale
    if side < spec.scale:
        raise InputError(tr("The image ({width}×{height}) is too small for the network.",
                            width=grid.width, height=grid.height))
    windows = crop_windows(labels, block, (grid.height, grid.width), side * cell, config.crops, seed, analyst,
                           align=cell)
    progress(0.02, tr("Reading {count} training crops", count=len(windows)))
    crops = read_crops(pair, normalisers, windows, labels, block, cell, spec.scale, analyst)
    counts = {"changed": int((labels == CHANGED).sum()), "unchanged": int((labels == UNCHANGED).sum()),
              "analyst": int((analyst >= 0).sum()) if analyst is not None else 0,
              "cell": block, "network_cell": cell, "outputs_changed": int((crops.labels == CHANGED).sum()),
              "outputs_unchanged": int((crops.labels == UNCHANGED).sum())}
    if counts["outputs_changed"] == 0 or counts["outputs_unchanged"] == 0:
        raise InputError(tr("The prior and the analyst's samples give too few changed or unchanged places to "
                            "train on; add samples of both classes or use MODE=prior."))
    return TrainingSet(crops, cell, counts)


def _runner(params: RunParams, bands: tuple[int, int], config: TrainConfig) -> _IntRunner | _FloatRunner:
    """The network of the run's mode from its initial weights, with its update rule."""
    spec = config.spec()
    weights = initial_weights(spec, bands, params.seed, vgg16=params.vgg16)
    if params.mode == "int8":
        return _IntRunner(IntDualVGG(spec, weights), params.seed, config.optimiser)
    return _FloatRunner(FloatDualVGG(spec, weights))


@dataclass(frozen=True)
class Epochs:
    """What the epochs leave besides the trained (and pruned) network."""

    losses: list[float]        # per epoch: mean negative log-likelihood of the labelled outputs
    accuracies: list[float]    # per epoch: share of the labelled outputs the network got right
    peak_bytes: int
    fp32_peak_bytes: int       # what an fp32 step of the same network would have held
    frozen_feature_bytes: int
    inference_shifts: Optional[dict]   # int8: each layer's shift fixed for inference (IntDualVGG.fix_shifts)


def train_epochs(runner: _IntRunner | _FloatRunner, crops: Crops, pruner: AdaptivePruner, params: RunParams,
                 progress: Progress, config: TrainConfig, network: tuple[int, int] = (1, 1)) -> Epochs:
    """params.epochs passes over the crops in seeded batches, pruning between epochs; the frozen
    layers' features are computed once, and again only when pruning changed a frozen layer. An int8
    network's inference shifts are then fixed on the same crops. network: (which, of how many), for the
    progress messages."""
    net = runner.net
    x1, x2 = runner.inputs(crops.x1), runner.inputs(crops.x2)
    features, frozen_shapes = None, None
    y = torch.from_numpy(crops.labels.astype(np.int64))
    generator = torch.Generator().manual_seed(params.seed)
    steps = -(-len(crops) // config.batch)
    total = max(1, params.epochs * steps)
    schedule = config.schedule or SCHEDULES[config.optimiser]
    losses, accuracies, peak, fp32_peak = [], [], 0, 0
    for epoch in range(params.epochs):
        nll, right, seen = 0.0, 0, 0
        if _frozen_shapes(net) != frozen_shapes:   # the first epoch, or a frozen layer was pruned
            features, frozen_shapes = net.frozen_features(x1, x2), _frozen_shapes(net)
        for i, index in enumerate(_batches(len(crops), config.batch, generator)):
            target = y[index]
            mu = mu_for(epoch * steps + i, total, schedule)
            p = runner.step(_select(features[0], index), _select(features[1], index), target, mu)
            held, fp32_held = held_bytes(net, runner.integer)
            peak, fp32_peak = max(peak, held), max(fp32_peak, fp32_held)
            labelled = target >= 0
            t, q = target[labelled], p[labelled]
            likelihood = torch.where(t == 1, q, 128 - q).clamp(1, 128).double() / 128
            nll += float(-likelihood.log().sum())
            right += int(((q >= 64).long() == t).sum())
            seen += int(labelled.sum())
            progress((epoch * steps + i + 1) / total,
                     tr("Training epoch {epoch}/{epochs}", epoch=epoch + 1, epochs=params.epochs) if network[1] == 1
                     else tr("Training network {network}/{networks}, epoch {epoch}/{epochs}", network=network[0],
                             networks=network[1], epoch=epoch + 1, epochs=params.epochs))
        losses.append(round(nll / max(seen, 1), 5))
        accuracies.append(round(right / max(seen, 1), 5))
        if epoch < params.epochs - 1:
            pruner.prune(net, accuracies[-1])
    shifts = net.fix_shifts(x1, x2) if runner.integer else None
    return Epochs(losses, accuracies, int(peak), int(fp32_peak), sum(_bytes(f) for f in features), shifts)


@dataclass(frozen=True)
class _Trained:
    """One network of the detector and what its training reports."""

    net: IntDualVGG | FloatDualVGG
    integer: bool
    before: Costs
    after: Costs
    rate: float                # the pruner's final rate
    epochs: Epochs
    pseudo_labels: dict        # TrainingSet.pseudo_labels (the crops themselves are let go once trained)
    crops: int
    cell: int


def _train_one(pair, normalisers, labels: np.ndarray, block: int, analyst: Optional[np.ndarray], params, progress,
               config: TrainConfig, network: tuple[int, int]) -> _Trained:
    """One network trained from params.seed: its crops, initial weights, batches and rounding."""
    data = training_set(pair, normalisers, labels, block, analyst, params.seed, progress, config)
    runner = _runner(params, (pair.band_count1, pair.band_count2), config)
    bits = 8 if runner.integer else 32
    before = costs(runner.net, bits)
    pruner = AdaptivePruner(enabled=bool(params.prune))
    epochs = train_epochs(runner, data.crops, pruner, params, progress, config, network)
    return _Trained(runner.net, runner.integer, before, costs(runner.net, bits), pruner.rate, epochs,
                    data.pseudo_labels, len(data.crops), data.cell)


def seeds(seed: int, networks: int = NETWORKS) -> list[int]:
    """The seeds of a run's networks, none another SEED's (SEED_STRIDE): s, s + 1000 for s under 1000."""
    block, offset = divmod(seed, SEED_STRIDE)
    first = block * SEED_STRIDE * networks + offset
    return [first + SEED_STRIDE * k for k in range(networks)]


def train_detector(pair: AlignedPair, normalisers: Sequence[Normaliser], prior: np.ndarray, block: int,
                   analyst: Optional[np.ndarray], params: RunParams, progress: Progress,
                   config: Optional[TrainConfig] = None, floor: float = 0.0) -> tuple[Detector, ModelStats]:
    """Train config.networks networks on the pair, labelled by `prior` on cells of `block` pixels; returns the
    Detector (their mean) and what training reports for stats.json: the model's size and BOPs and the filters
    kept summed over the networks (all of them run), memory at the largest of them (they train one after
    another), loss and accuracy per epoch as their mean, pseudo-label counts of the first. floor: see
    margin_labels."""
    config = config or TrainConfig()
    if config.networks < 1:
        raise InputError(tr("A run trains at least one network, not {count}.", count=config.networks))
    start = time.perf_counter()
    labels = margin_labels(prior, config.unchanged_below, config.changed_above, floor)   # one for every network
    run_seeds = seeds(params.seed, config.networks)
    count = len(run_seeds)
    members = [_train_one(pair, normalisers, labels, block, analyst, replace(params, seed=seed),
                          progress.span(k / count, (k + 1) / count), config, (k + 1, count))
               for k, seed in enumerate(run_seeds)]
    first = members[0]
    before, after = combined([m.before for m in members]), combined([m.after for m in members])
    stats = ModelStats(
        initial_weights=(f"vgg16 ({params.vgg16}), seeds " if params.vgg16 else "seeded ")
        + f"({', '.join(map(str, run_seeds))})",
        model={**model_figures(before, after), "networks": count},
        pruning={"enabled": bool(params.prune), "final_rates": [round(m.rate, 4) for m in members],
                 "layers": pruning_figures(before, after)},
        training={"seconds": round(time.perf_counter() - start, 3), "epochs": params.epochs, "networks": count,
                  "seeds": run_seeds,
                  "peak_bytes": max(m.epochs.peak_bytes for m in members),
                  "fp32_equivalent_peak_bytes": max(m.epochs.fp32_peak_bytes for m in members),
                  "pseudo_labels": first.pseudo_labels,
                  "loss": _mean_per_epoch([m.epochs.losses for m in members]),
                  "accuracy": _mean_per_epoch([m.epochs.accuracies for m in members]),
                  "crops": first.crops, "crop": config.crop, "batch": config.batch,
                  "optimiser": config.optimiser,
                  "frozen_feature_bytes": max(m.epochs.frozen_feature_bytes for m in members),
                  "inference_shifts": [m.epochs.inference_shifts for m in members] if first.integer else None,
                  "integer_kernels": ("compiled" if kernels.active() else "torch") if first.integer else None})
    return Detector([m.net for m in members], config.spec(), first.integer, first.cell), stats


def _mean_per_epoch(runs: list[list[float]]) -> list[float]:
    return [round(sum(values) / len(values), 5) for values in zip(*runs)]
