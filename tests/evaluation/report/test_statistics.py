"""evaluation.report.statistics: the paired bootstrap CI."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.report import paired_bootstrap_ci


def test_bootstrap_equals_a_plain_resampling_loop():
    x = np.random.default_rng(1).normal(2.0, 1.0, size=(40, 3))
    ci = paired_bootstrap_ci(x, n_resamples=2000, seed=7)
    idx = np.random.default_rng(7).integers(0, 40, size=(2000, 40))
    means = np.stack([x[i].mean(axis=0) for i in idx])
    np.testing.assert_allclose(ci.mean, x.mean(axis=0))
    np.testing.assert_allclose(ci.low, np.quantile(means, 0.025, axis=0))
    np.testing.assert_allclose(ci.high, np.quantile(means, 0.975, axis=0))


def test_bootstrap_interval_behaves():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 50), rng.normal(1.0, 1.0, 800)
    a, b = paired_bootstrap_ci(small), paired_bootstrap_ci(large)
    assert a.low[0] < 1.0 < a.high[0] and b.low[0] < 1.0 < b.high[0]
    width = lambda c: c.high[0] - c.low[0]  # noqa: E731
    assert 0.15 < width(b) / width(a) < 0.4  # ~ sqrt(50 / 800) = 0.25
    assert paired_bootstrap_ci(small, seed=3).low == paired_bootstrap_ci(small, seed=3).low
    const = paired_bootstrap_ci(np.full(10, 0.5))
    assert const.low[0] == const.high[0] == 0.5
    one = paired_bootstrap_ci([2.0])
    assert one.mean[0] == 2.0 and np.isnan(one.low[0]) and one.n[0] == 1
    # NaNs drop per column: the second column uses its 3 finite pairs only
    mixed = paired_bootstrap_ci(np.array([[1.0, 1.0], [2.0, np.nan], [3.0, 3.0], [4.0, 5.0]]))
    assert list(mixed.n) == [4, 3] and mixed.mean[1] == 3.0


@pytest.mark.parametrize(
    "kwargs, key",
    [(dict(confidence=1.5), "confidence"), (dict(n_resamples=0), "n_resamples")],
)
def test_bootstrap_rejects_bad_arguments(kwargs, key):
    with pytest.raises(ValueError, match=key):
        paired_bootstrap_ci([1.0, 2.0], **kwargs)
