"""The pseudo-label rule: margins around the prior's Otsu threshold, capped by the evidence floor."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from oaip_qgis.core.decision.threshold import otsu
from oaip_qgis.core.errors import InputError
from oaip_qgis.core.labels.blocks import block_means, upsample_prior
from oaip_qgis.core.labels.margins import CHANGED, NONE, UNCHANGED, margin_labels
from oaip_qgis.core.labels.structural_prior import structural_prior
from oaip_qgis.core.normalise import fit_normaliser

PRIOR = np.random.default_rng(0).random((20, 30)).astype(np.float32)


def test_labels_lie_beyond_the_margins_of_the_prior_threshold_and_nan_stays_unlabelled():
    prior = PRIOR.copy()
    prior[0, :] = np.nan
    t = otsu(prior[np.isfinite(prior)])
    labels = margin_labels(prior, 0.6, 1.6)
    assert labels.dtype == np.int8 and (labels[0] == NONE).all()
    ok = np.isfinite(prior)
    assert np.array_equal(labels[ok] == UNCHANGED, prior[ok] < 0.6 * t)
    assert np.array_equal(labels[ok] == CHANGED, prior[ok] > 1.6 * t)
    assert (labels == NONE).sum() > 20           # the band between the margins stays unlabelled


def test_the_evidence_floor_caps_the_changed_labels():
    t = otsu(PRIOR.ravel())
    floor = float(np.quantile(PRIOR, 0.95))
    labels = margin_labels(PRIOR, 0.6, 1.2, floor=floor)
    assert (PRIOR[labels == CHANGED] >= floor).all()
    assert ((PRIOR > 1.2 * t) & (PRIOR < floor)).any()   # the floor removed some
    with pytest.raises(InputError, match="no valid cell"):
        margin_labels(np.full((3, 3), np.nan, np.float32))


def test_labels_on_the_sample_pair_follow_the_truth(sample_pair):
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
    prior = np.where(valid, upsample_prior(structural_prior(y1, y2, vb).both, shape), np.nan)
    labels = margin_labels(prior)
    assert truth[labels == UNCHANGED].mean() < 0.05      # "unchanged" labels lie outside the true change
    assert truth[labels == CHANGED].mean() > 0.5         # and most "changed" ones inside it
    assert (labels == CHANGED).sum() > 100
