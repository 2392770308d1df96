"""experiments.metric_suite: metrics with their own network (RAFT, AMT-S, MUSIQ) in the runner:
their columns, weights keys, start-up checks and size limits; the testbed judge's metrics and its
encoder (testbed videos only)."""

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


# --------------------------------------------------------------------------- the testbed's judge

TESTBED_METRICS = ["testbed_accuracy", "testbed_all4"]


def _testbed_clips(n: int = 3) -> tuple[torch.Tensor, list[str]]:
    """``n`` real testbed clips ``(n, 8, 3, 32, 32)`` and their captions."""
    from freqlab.testbed.data import make_clips

    clips, captions = make_clips(n, seed=11, split="heldout")
    return torch.from_numpy(clips), captions


def test_the_testbed_metrics_are_registered_as_the_judge_reads_them():
    from omegaconf import OmegaConf

    from experiments.metric_suite import CONF_METRICS
    from freqlab.testbed.judge import judge_digest

    suite = MetricSuite.from_config(OmegaConf.load(CONF_METRICS / "testbed.yaml"))
    assert suite.encoders() == [] and suite.models() == []  # nothing to download
    columns = [suite.column(n) for n in suite.names]
    assert columns[-2:] == TESTBED_METRICS  # no encoder tag: the judge is the metric
    assert "dino_consistency[pixel]" in columns
    about = suite.describe()["testbed_accuracy"]
    assert about["encoder"] is None and about["model"] is None and about["judge"] == judge_digest()
    assert all(METRICS[n].needs_prompts and METRICS[n].testbed_only for n in TESTBED_METRICS)
    videos, captions = _testbed_clips()
    scores = MetricSuite(TESTBED_METRICS)(videos, captions)
    from evaluation.metrics.testbed_accuracy import testbed_accuracy, testbed_all4

    assert torch.equal(scores["testbed_accuracy"], testbed_accuracy(videos, captions))
    assert torch.equal(scores["testbed_all4"], testbed_all4(videos, captions))
    assert scores["testbed_accuracy"].min() >= 0 and scores["testbed_accuracy"].max() <= 1
    assert torch.all(scores["testbed_all4"] <= scores["testbed_accuracy"])
    # a blank video is read as nothing: at most its background matches
    blank = MetricSuite(TESTBED_METRICS)(torch.full_like(videos, 0.5), captions)
    assert torch.all(blank["testbed_accuracy"] <= 0.25) and not blank["testbed_all4"].any()


def test_the_testbed_judge_is_an_encoder_of_the_consistency_metrics(empty_caches):
    from omegaconf import OmegaConf

    from evaluation import dino_consistency
    from evaluation.testbed_encoder import testbed_judge_encoder
    from experiments.metric_suite import CONF_METRICS

    cfg = OmegaConf.merge(
        OmegaConf.load(CONF_METRICS / "testbed.yaml"), {"encoder": "testbed_judge"}
    )
    suite = MetricSuite.from_config(cfg)
    assert suite.column("dino_consistency") == "dino_consistency[testbed_judge]"
    assert suite.column("background_consistency") == "background_consistency[testbed_judge]"
    assert suite.column("motion") == "motion" and suite.encoders() == ["testbed_judge"]
    # its weights ship with freqlab: found with empty hub caches, nothing looked up there
    found = suite.check_weights()
    assert found["testbed_judge"].startswith("file:") and found["testbed_judge"].endswith(
        "judge.safetensors"
    )
    videos, captions = _testbed_clips(2)
    scores = MetricSuite(["dino_consistency"], encoder="testbed_judge")(videos, captions)
    expected = dino_consistency(videos, encoder=testbed_judge_encoder())
    torch.testing.assert_close(scores["dino_consistency[testbed_judge]"], expected)


def test_the_testbed_judge_encoder_has_no_weights_key_nor_text():
    with pytest.raises(
        ConfigError, match=r"^metrics\.weights\.testbed_judge: .* ship with freqlab"
    ):
        MetricSuite(
            ["dino_consistency"], encoder="testbed_judge", weights={"testbed_judge": "/j.pt"}
        )._check_weight_keys()
    with pytest.raises(ConfigError, match=r"^metrics\.encoder=testbed_judge has no text features"):
        MetricSuite(["clip_score"], encoder="testbed_judge")
    from omegaconf import OmegaConf

    with pytest.raises(ConfigError, match=r"metrics\.encoder must be .*testbed_judge"):
        MetricSuite.from_config(OmegaConf.create({"names": ["motion"], "encoder": "judge"}))


@pytest.mark.parametrize(
    ("names", "encoder", "key"),
    [
        (["motion", "testbed_accuracy"], "pixel", r"metrics\.names: testbed_accuracy scores"),
        (TESTBED_METRICS, "pixel", r"metrics\.names: testbed_accuracy, testbed_all4 score"),
        (["dino_consistency"], "testbed_judge", r"metrics\.encoder: testbed_judge reads"),
    ],
)
def test_the_judge_refuses_other_models(names, encoder, key):
    suite = MetricSuite(names, encoder=encoder)
    suite.check_model("testbed")
    with pytest.raises(ConfigError, match=rf"^{key} .*model tiny_animatediff is not the testbed"):
        suite.check_model("tiny_animatediff")
    MetricSuite(["motion"], encoder="pixel").check_model("tiny_animatediff")


def test_the_judge_refuses_testbed_videos_of_another_size():
    suite = MetricSuite(["motion", "testbed_all4"])
    suite.check_video_size(8, 32, 32)
    with pytest.raises(ConfigError, match=r"testbed_all4 reads the testbed's 8-frame 32 x 32"):
        suite.check_video_size(4, 32, 32)
    with pytest.raises(ConfigError, match=r"= 8x64x64"):
        suite.check_video_size(8, 64, 64)
    # the encoder resizes any frame to the judge's 32 x 32
    MetricSuite(["dino_consistency"], encoder="testbed_judge").check_video_size(16, 64, 64)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model=tiny_animatediff", "metrics=testbed"], r"metrics\.names: testbed_accuracy,"),
        (
            ["model=tiny_animatediff", "metrics=pixel", "metrics.encoder=testbed_judge"],
            r"metrics\.encoder: testbed_judge",
        ),
    ],
)
def test_start_up_refuses_the_judge_on_another_model(
    tmp_path, monkeypatch, job_config, overrides, key
):
    """Both the start-up check and the job itself refuse, before any model loads."""
    import experiments.generate as generate
    from experiments.preflight import check_job

    monkeypatch.setenv("FREQLAB_MIN_FREE_MB", "0")

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(generate, "load_model", no_loading)
    cfg = job_config(tmp_path, "out", [*overrides, "logger=none", "device=cpu"])
    with pytest.raises(ConfigError, match=rf"^{key} .*model tiny_animatediff is not the testbed"):
        check_job(cfg, overrides)
    with pytest.raises(ConfigError, match=rf"^{key}"):
        generate.run_generate(cfg)
