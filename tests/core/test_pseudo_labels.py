"""Pseudo-labels from the prior's tails, analyst overrides and balanced sampling."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.labels.blocks import block_means, upsample_prior
from oaip_qgis.core.labels.pseudo_labels import merge_analyst, pseudo_labels, sample_locations
from oaip_qgis.core.labels.structural_prior import structural_prior
from oaip_qgis.core.normalise import fit_normaliser

PRIOR = np.random.default_rng(0).random((20, 30)).astype(np.float32)


def test_tails_of_the_valid_prior_are_labelled():
    valid = np.ones(PRIOR.shape, bool)
    valid[:5] = False
    labels = pseudo_labels(PRIOR, valid, changed=0.1, unchanged=0.3)
    assert labels.dtype == np.int8
    assert (labels[~valid] == -1).all()
    n = valid.sum()
    assert (labels == 1).sum() == round(0.1 * n) and (labels == 0).sum() == round(0.3 * n)
    assert PRIOR[labels == 1].min() > PRIOR[valid & (labels != 1)].max()
    assert PRIOR[labels == 0].max() < PRIOR[valid & (labels != 0)].min()


def test_nan_prior_is_never_labelled_and_bad_fractions_are_refused():
    prior = PRIOR.copy()
    prior[0, :] = np.nan
    labels = pseudo_labels(prior, changed=0.5, unchanged=0.5)
    assert (labels[0] == -1).all() and (labels[1:] >= 0).all()
    with pytest.raises(InputError, match="fractions"):
        pseudo_labels(PRIOR, changed=0.7, unchanged=0.5)


def test_analyst_samples_take_precedence():
    analyst = np.full(PRIOR.shape, -1, np.int8)
    top = np.unravel_index(np.argmax(PRIOR), PRIOR.shape)
    bottom = np.unravel_index(np.argmin(PRIOR), PRIOR.shape)
    analyst[top], analyst[bottom] = 0, 1
    labels = pseudo_labels(PRIOR, analyst=analyst)
    assert labels[top] == 0 and labels[bottom] == 1
    assert np.array_equal(labels[analyst < 0], pseudo_labels(PRIOR)[analyst < 0])
    with pytest.raises(InputError, match="Analyst"):
        merge_analyst(labels, analyst[:5])


def test_sampling_is_balanced_seeded_and_prefers_kept_cells():
    labels = pseudo_labels(PRIOR, changed=0.1, unchanged=0.4)
    rows, cols, classes = sample_locations(labels, per_class=20, seed=1)
    assert (classes == 0).sum() == 20 and (classes == 1).sum() == 20
    assert np.array_equal(labels[rows, cols], classes)
    again = sample_locations(labels, per_class=20, seed=1)
    other = sample_locations(labels, per_class=20, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip((rows, cols, classes), again))
    assert not np.array_equal(rows, other[0])
    few = sample_locations(labels, per_class=1000, seed=0)[2]       # fewer labelled than asked: all of them
    assert (few == 1).sum() == (labels == 1).sum()
    keep = np.zeros(PRIOR.shape, bool)
    keep[np.nonzero(labels == 1)[0][:3], np.nonzero(labels == 1)[1][:3]] = True
    rows, cols, _ = sample_locations(labels, per_class=3, seed=0, keep=keep)
    assert keep[rows, cols].sum() == 3


def test_pseudo_labels_on_the_sample_pair_follow_the_truth(sample_pair):
    """The real chain on the synthetic optical/SAR pair: most labels agree with the known changes."""
    with rasterio.open(sample_pair["t1"]) as src:
        x1 = src.read().astype(np.float32)
        shape, transform, crs = (src.height, src.width), src.transform, src.crs
    with rasterio.open(sample_pair["t2"]) as src:
        x2 = np.zeros((1,) + shape, np.float32)
        reproject(src.read(), x2, src_transform=src.transform, src_crs=src.crs, src_nodata=src.nodata,
                  dst_transform=transform, dst_crs=crs, dst_nodata=np.nan, resampling=Resampling.bilinear)
    with rasterio.open(sample_pair["truth"]) as src:
        truth = src.read(1) > 0
    valid = np.isfinite(x2[0]) & (x2[0] > 0)
    b1, vb = block_means(x1, valid, 2)
    b2, _ = block_means(x2, valid, 2)
    y1, y2 = fit_normaliser(b1, vb).apply(b1), fit_normaliser(b2, vb).apply(b2)
    prior = upsample_prior(structural_prior(y1, y2, vb), shape)
    labels = pseudo_labels(prior, valid)
    assert truth[labels == 0].mean() < 0.05       # "unchanged" samples lie outside the true change
    assert truth[labels == 1].mean() > 0.5        # and most "changed" ones inside it
