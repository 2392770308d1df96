"""freqlab.hub: the one missing-weights error, offline mode and the hub cache, read at call time."""

from __future__ import annotations

import pytest

from evaluation.checkpoints import resolve_weights
from freqlab.hub import WeightsNotFoundError, find_in_hub_cache, hub_cache_dir, hub_offline
from freqlab.models import WeightsNotFoundError as ModelsWeightsNotFoundError


def test_hub_offline_reads_the_environment_now(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not hub_offline()


def test_hub_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hub_cache_dir() == tmp_path / "cache"
    assert hub_cache_dir(tmp_path / "given") == tmp_path / "given"  # the argument wins


def test_nothing_cached_is_none(tmp_path):
    assert find_in_hub_cache("org/absent", ["model.safetensors"], tmp_path) is None


def test_one_error_class_for_model_and_metric_weights():
    assert ModelsWeightsNotFoundError is WeightsNotFoundError
    # Callers written against either former class keep catching it.
    assert issubclass(WeightsNotFoundError, FileNotFoundError)
    assert issubclass(WeightsNotFoundError, ValueError)


@pytest.mark.parametrize("caught", [WeightsNotFoundError, FileNotFoundError, ValueError])
def test_a_missing_metric_checkpoint_is_caught_by_each_name(caught, tmp_path):
    with pytest.raises(caught, match="no such file") as info:
        resolve_weights("encoder 'x'", tmp_path / "absent.safetensors")
    assert str(info.value).startswith("weights=")  # one message, not an (errno, text) pair
    assert info.value.reason is None


def test_the_reason_is_kept_unchained():
    reason = ConnectionError("offline")
    err = WeightsNotFoundError("model 'm': pretrained weights are not available.", reason)
    assert err.reason is reason and str(err) == "model 'm': pretrained weights are not available."
