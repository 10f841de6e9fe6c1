"""Accuracy scores against hand-counted examples; rank AUC with ties; the streaming form."""
from __future__ import annotations

import numpy as np
import pytest

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.metrics import StreamingAccuracy, accuracy, auc

# tp = 3, fp = 1, tn = 4, fn = 2
CHANGE = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
TRUTH = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0], bool)


def test_scores_match_hand_counts():
    r = accuracy(CHANGE, TRUTH)
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (3, 1, 4, 2)
    assert r["oa"] == pytest.approx(0.7)
    assert r["precision"] == pytest.approx(0.75) and r["recall"] == pytest.approx(0.6)
    assert r["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert r["kappa"] == pytest.approx((0.7 - 0.5) / (1 - 0.5))   # chance agreement (4·5 + 6·5) / 100
    assert r["auc"] is None


def test_auc_by_ranks_with_ties():
    assert auc([0.1, 0.4, 0.4, 0.8], [0, 1, 0, 1]) == pytest.approx(3.5 / 4)
    assert auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert auc(np.full(6, 0.3), [0, 1, 0, 1, 0, 1]) == 0.5
    rng = np.random.default_rng(0)
    assert auc(rng.random(20000), rng.random(20000) < 0.2) == pytest.approx(0.5, abs=0.02)
    assert auc([0.1, 0.2], [1, 1]) is None


def test_invalid_pixels_are_left_out():
    score = np.linspace(0, 1, 10)
    valid = np.ones(10, bool)
    valid[[0, 9]] = False
    first = accuracy(CHANGE, TRUTH, score, valid)
    change, truth, noisy = CHANGE.copy(), TRUTH.copy(), score.copy()
    change[~valid], truth[~valid], noisy[~valid] = ~change[~valid], ~truth[~valid], [5.0, -5.0]
    assert accuracy(change, truth, noisy, valid) == first
    assert first["tp"] + first["fp"] + first["tn"] + first["fn"] == 8


def test_streaming_equals_the_whole_for_scores_on_its_grid():
    rng = np.random.default_rng(1)
    score = np.round(rng.random(5000) * 65535) / 65535
    truth = rng.random(5000) < score            # higher scores change more often
    change = score > 0.5
    stream = StreamingAccuracy()
    for part in np.array_split(np.arange(5000), 7):
        stream.update(score[part], change[part], truth[part])
    whole = accuracy(change, truth, score)
    streamed = stream.result()
    assert streamed.keys() == whole.keys() | {"reference_coverage"}
    assert streamed["reference_coverage"] == 1.0
    for key, value in whole.items():
        assert streamed[key] == pytest.approx(value, abs=1e-9), key
    assert 0.7 < whole["auc"] < 0.9


def test_pixels_the_reference_does_not_cover_are_left_out_not_taken_as_unchanged():
    change = np.array([1, 1, 0, 0, 1, 1], bool)
    reference = np.array([1, 0, 0, 1, np.nan, np.nan], np.float32)   # the last two: outside the reference
    stream = StreamingAccuracy()
    stream.update(np.where(change, 0.9, 0.1), change, reference)
    result = stream.result()
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (1, 1, 1, 1)
    assert result["reference_coverage"] == pytest.approx(4 / 6)
    nothing = StreamingAccuracy()
    nothing.update(np.zeros(3), np.zeros(3, bool), np.full(3, np.nan))
    assert nothing.result()["kappa"] is None and nothing.result()["reference_coverage"] == 0.0


def test_mismatched_shapes_are_refused():
    with pytest.raises(InputError, match="shape"):
        accuracy(CHANGE, TRUTH[:5])
    with pytest.raises(InputError, match="size"):
        auc([0.1, 0.2], [1])
