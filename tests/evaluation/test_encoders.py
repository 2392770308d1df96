"""evaluation.encoders: one load per process, injected encoders, the default DINO never swapped
for another, missing weights named by their config key."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from evaluation.encoders import (
    FrameEncoder,
    clear_encoder_cache,
    encode_videos,
    get_encoder,
    load_encoder,
    resolve_encoder_weights,
)
from evaluation.metrics import dino_consistency
from evaluation.preprocessing import FREEINIT_DINO
from freqlab.hub import WeightsNotFoundError

NAME = "test_vit_tiny"  # registered in conftest: timm vit_tiny_patch16_224, depth 1


def _params(encoder: FrameEncoder) -> dict[str, torch.Tensor]:
    return encoder.module.model.state_dict()


def test_loaded_once_and_reused(tmp_path, state_dict):
    clear_encoder_cache()
    first = load_encoder(NAME, weights="random")
    assert load_encoder(NAME, weights="random") is first
    assert get_encoder(None, default=NAME, weights="random") is first
    safe = tmp_path / "model.safetensors"
    save_file(state_dict, str(safe))
    assert load_encoder(NAME, weights=safe) is not first
    clear_encoder_cache()
    again = load_encoder(NAME, weights="random")
    assert again is not first  # rebuilt, with the same seeded random weights
    for a, b in zip(_params(first).values(), _params(again).values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not any(p.requires_grad for p in again.module.parameters())
    assert not again.module.training


def test_injected_encoders():
    conv = nn.Conv2d(3, 4, 3).train()
    encoder = get_encoder(conv, default="dino_vits16")
    assert encoder.name == "custom:Conv2d" and encoder.weights == "injected"
    assert not conv.training  # put in eval mode
    with pytest.raises(ValueError, match="weights is only used with a registered encoder"):
        get_encoder(conv, default="dino_vits16", weights="x.pth")
    with pytest.raises(ValueError, match="encoder must be a registered name"):
        get_encoder(42, default="dino_vits16")
    named = FrameEncoder("my_dino", conv, model="Conv2d", weights="file:/my/dino.pth")
    videos = torch.zeros(1, 2, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"must map \(N, 3, h, w\) frames to \(N, D\) features"):
        encode_videos(videos, named, FREEINIT_DINO)  # a feature map, not vectors


def test_default_dino_fails_clearly_and_never_swaps(make_videos):
    videos = make_videos(1, 2)
    with pytest.raises(WeightsNotFoundError):
        dino_consistency(videos)
    assert dino_consistency(videos, "pixel").shape == (1,)  # only when asked for


def test_missing_weights_message_names_a_config_key(offline):
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_encoder_weights(NAME, None, argument="metrics.weights.test_vit_tiny")
    message = str(info.value)
    assert "point config key `metrics.weights.test_vit_tiny` at a local checkpoint" in message
    assert "metrics.weights.test_vit_tiny=/path/to/checkpoint" in message


def test_the_testbed_judge_is_a_named_encoder_with_shipped_weights(offline):
    from evaluation import testbed_encoder
    from evaluation.encoders import (
        TESTBED_JUDGE,
        EncoderSpec,
        encoder_names,
        register_encoder,
    )
    from freqlab.testbed.data import make_clips

    assert TESTBED_JUDGE == "testbed_judge" and TESTBED_JUDGE in encoder_names()
    clear_encoder_cache()
    encoder = load_encoder("testbed_judge")
    assert encoder is testbed_encoder.testbed_judge_encoder("cpu")  # one build per device
    assert get_encoder("testbed_judge", default="dino_vits16") is encoder
    clear_encoder_cache()  # forgets it too
    assert load_encoder("testbed_judge") is not encoder
    # empty hub caches and no network: its weights are the package's file
    source = resolve_encoder_weights("testbed_judge")
    assert source.kind == "file" and source.path.name == "judge.safetensors"
    with pytest.raises(ValueError, match=r"^metrics\.weights\.testbed_judge: weights must be None"):
        resolve_encoder_weights("testbed_judge", "/j.pt", argument="metrics.weights.testbed_judge")
    with pytest.raises(ValueError, match="weights must be None"):
        load_encoder("testbed_judge", weights="random")
    with pytest.raises(ValueError, match="reserved"):
        register_encoder(EncoderSpec("testbed_judge", "timm", "vit_tiny_patch16_224", None, ()))
    with pytest.raises(ValueError, match=r"encoder must be one of .*'testbed_judge'"):
        load_encoder("judge")
    clips, _ = make_clips(2, seed=3, split="heldout")
    videos = torch.from_numpy(clips)
    torch.testing.assert_close(
        dino_consistency(videos, "testbed_judge"),
        dino_consistency(videos, testbed_encoder.testbed_judge_encoder()),
    )
