"""experiments.metric_suite: metrics with their own network (RAFT, AMT-S, MUSIQ) in the runner:
their columns, weights keys, start-up checks and size limits."""

from __future__ import annotations

import pytest
import torch

from experiments.metric_suite import METRICS, MODEL_WEIGHTS, MetricSuite
from experiments.settings import ConfigError
from freqlab.hub import WeightsNotFoundError

MODEL_METRICS = [
    "flow_magnitude",
    "motion_smoothness",
    "imaging_quality",
    "dynamic_degree",
    "aesthetic_quality",
]


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """No weights anywhere: the Hugging Face, torch and VBench caches are empty folders."""
    for var in ("HF_HUB_CACHE", "HF_HOME", "TORCH_HOME", "VBENCH_CACHE_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    return tmp_path


def test_columns_name_the_network():
    suite = MetricSuite(MODEL_METRICS)
    assert [suite.column(n) for n in MODEL_METRICS] == [
        "flow_magnitude[raft_large]",
        "motion_smoothness[amt_s]",
        "imaging_quality[musiq_spaq]",
        "dynamic_degree[raft_large_v1]",
        "aesthetic_quality[laion_v1]",
    ]
    assert MODEL_WEIGHTS == {
        "raft_large": "flow_magnitude",
        "amt_s": "motion_smoothness",
        "musiq_spaq": "imaging_quality",
        "raft_large_v1": "dynamic_degree",
        "laion_v1": "aesthetic_quality",
    }
    # aesthetic quality pairs LAION's head with its own CLIP ViT-L/14, whatever metrics.encoder
    pixel = MetricSuite(["aesthetic_quality", "dino_consistency"], encoder="pixel")
    assert pixel.encoders() == ["clip_vitl14"] and pixel.column("dino_consistency").endswith(
        "[pixel]"
    )
    assert (
        MetricSuite(["dynamic_degree"], fps=8).describe()["dynamic_degree[raft_large_v1]"]["fps"]
        == 8
    )
    random = MetricSuite(["imaging_quality"], weights={"musiq_spaq": "random"})
    assert random.column("imaging_quality") == "imaging_quality[musiq_spaq@random]"
    assert suite.describe()["motion_smoothness[amt_s]"]["model"] == "amt_s"


def test_weights_keys_of_unselected_networks_are_refused():
    with pytest.raises(ConfigError, match=r"metrics\.weights\.amt_s: no selected metric"):
        MetricSuite(["motion"], weights={"amt_s": "/w.pth"})._check_weight_keys()
    with pytest.raises(ConfigError, match=r"metrics\.weights\.amt: unknown encoder or metric"):
        MetricSuite(["motion"], weights={"amt": "/w.pth"})._check_weight_keys()
    MetricSuite(["motion_smoothness"], weights={"amt_s": "/w.pth"})._check_weight_keys()


@pytest.mark.parametrize("name", MODEL_METRICS)
def test_missing_weights_name_the_config_key(empty_caches, name):
    model = METRICS[name].model
    with pytest.raises(WeightsNotFoundError, match=rf"metrics\.weights\.{model}"):
        MetricSuite([name]).check_weights()


def test_the_vbench_group_names_every_weights_key():
    from omegaconf import OmegaConf

    from experiments.metric_suite import CONF_METRICS

    cfg = OmegaConf.load(CONF_METRICS / "vbench.yaml")
    suite = MetricSuite.from_config(cfg)
    assert sorted(cfg.weights) == sorted([*suite.encoders(), *suite.models()])
    assert suite.column("dynamic_degree") == "dynamic_degree[raft_large_v1]"


def test_a_corrupt_checkpoint_names_the_key(tmp_path, empty_caches):
    bad = tmp_path / "amt-s.pth"
    bad.write_bytes(b"not a checkpoint")
    suite = MetricSuite(["motion_smoothness"], weights={"amt_s": str(bad)})
    with pytest.raises(ConfigError, match=r"^metrics\.weights\.amt_s \(file:"):
        suite.check_weights()


def test_sizes_the_networks_cannot_measure_are_refused():
    suite = MetricSuite(["motion", "motion_smoothness"])
    with pytest.raises(ConfigError, match=r"motion_smoothness needs frames of at least 113"):
        suite.check_video_size(8, 32, 32)
    with pytest.raises(ConfigError, match=r"dynamic_degree needs frames of at least 128"):
        MetricSuite(["dynamic_degree"]).check_video_size(8, 120, 256)
    with pytest.raises(ConfigError, match=r"motion_smoothness needs at least 3 frames"):
        suite.check_video_size(2, 128, 128)
    suite.check_video_size(3, 113, 200)


def test_the_suite_computes_them_with_random_weights():
    torch.manual_seed(0)
    videos = torch.rand(1, 3, 3, 128, 128)
    weights = {"amt_s": "random", "musiq_spaq": "random"}
    suite = MetricSuite(["motion_smoothness", "imaging_quality"], weights=weights)
    scores = suite(videos, ["a video"])
    assert set(scores) == {"motion_smoothness[amt_s@random]", "imaging_quality[musiq_spaq@random]"}
    assert all(v.shape == (1,) and torch.isfinite(v).all() for v in scores.values())
