"""evaluation.metrics.base: the one encoder set-up every feature metric shares (which encoder,
which preprocessing, which device), checked once here rather than per metric."""

from __future__ import annotations

import pytest
import torch

from evaluation.encoders import FrameEncoder
from evaluation.metrics import DINOConsistency, VideoCLIPScore
from evaluation.metrics.base import resolve_encoder
from evaluation.preprocessing import CLIP_SCORE, FREEINIT_DINO, VBENCH_DINO

OWN_MEAN, OWN_STD = (0.1, 0.2, 0.3), (0.4, 0.5, 0.6)


def test_default_preprocess_keeps_the_geometry_and_takes_the_encoders_normalisation(tiny_conv):
    own = FrameEncoder("custom:own", tiny_conv, mean=OWN_MEAN, std=OWN_STD)
    encoder, rule = resolve_encoder(own, default="dino_vits16", default_preprocess=FREEINIT_DINO)
    assert encoder is own
    assert rule == FREEINIT_DINO.with_normalization(OWN_MEAN, OWN_STD)
    # An encoder without its own statistics keeps the metric's rule as it is.
    _, rule = resolve_encoder(tiny_conv, default="dino_vits16", default_preprocess=FREEINIT_DINO)
    assert rule is FREEINIT_DINO


def test_an_explicit_preprocess_wins(tiny_conv):
    own = FrameEncoder("custom:own", tiny_conv, mean=OWN_MEAN, std=OWN_STD)
    _, rule = resolve_encoder(
        own, default="dino_vits16", default_preprocess=FREEINIT_DINO, preprocess="vbench_dino"
    )
    assert rule is VBENCH_DINO
    _, rule = resolve_encoder(
        own, default="dino_vits16", default_preprocess=FREEINIT_DINO, preprocess={"size": 112}
    )
    assert rule.size == 112 and rule.mean != OWN_MEAN


def test_prepare_runs_before_the_preprocessing_is_chosen(tiny_conv):
    seen = []

    def prepare(encoder: FrameEncoder) -> FrameEncoder:
        seen.append(encoder.name)
        return FrameEncoder("custom:prepared", encoder.module, mean=OWN_MEAN, std=OWN_STD)

    encoder, rule = resolve_encoder(
        tiny_conv, default="clip_vitb32", default_preprocess=CLIP_SCORE, prepare=prepare
    )
    assert seen == ["custom:TinyConv"] and encoder.name == "custom:prepared"
    assert rule == CLIP_SCORE.with_normalization(OWN_MEAN, OWN_STD)


@pytest.mark.parametrize("cls", [DINOConsistency, VideoCLIPScore])
@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True])
def test_every_feature_metric_refuses_a_bad_batch_size(cls, batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        cls("pixel", batch_size=batch_size)


@pytest.mark.parametrize("cls", [DINOConsistency, VideoCLIPScore])
def test_metadata_records_the_encoder_and_its_preprocessing(cls, tiny_conv):
    kwargs = {"text_encoder": lambda p: torch.zeros(len(p), 16)} if cls is VideoCLIPScore else {}
    metric = cls(tiny_conv, preprocess="vbench_dino", **kwargs)
    meta = metric.metadata
    assert (
        meta["metric"] == cls.metric_name and meta["name"] == f"{cls.metric_name}[custom:TinyConv]"
    )
    assert meta["encoder"] == "custom:TinyConv" and meta["encoder_weights"] == "injected"
    assert meta["preprocess"] == VBENCH_DINO.to_dict()
    # The run device: the injected encoder's, as no device= was given.
    assert metric._encoder_and_device() == (metric._encoder, torch.device("cpu"))
