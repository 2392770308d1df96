"""freqlab.testbed.model: the caption tokenizer, and the shipped weights load offline, generate and
denoise held-out clips."""

from __future__ import annotations

import socket

import pytest
import torch

from freqlab.testbed.data import caption_words, make_clips
from freqlab.testbed.model import build_components, caption_tokenizer
from freqlab.testbed.train import diffusion_loss, encode_clips, tokenize


def test_every_caption_word_is_one_token():
    tokenizer = caption_tokenizer()
    for word in caption_words():
        assert len(tokenizer(word).input_ids) == 3, word  # BOS, word, EOS


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_shipped_weights_load_and_generate_offline(no_network):
    from freqlab.models import get_model_spec, load_model

    pipe = load_model("testbed")
    assert get_model_spec("testbed").defaults["num_frames"] == 8
    out = pipe(
        "a red circle moving left on a gray background",
        num_frames=8,
        height=32,
        width=32,
        num_inference_steps=3,
        guidance_scale=7.5,
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
    ).frames
    assert out.shape == (1, 8, 3, 32, 32)
    assert torch.isfinite(out).all() and 0 <= out.min() and out.max() <= 1


def test_shipped_weights_denoise_held_out_clips():
    """The shipped UNet has learnt: its loss (velocity-MSE for v3) on clips of held-out captions
    is a small fraction of an untrained UNet's (about 1)."""
    from freqlab.models import load_model

    pipe = load_model("testbed")
    clips, captions = make_clips(8, seed=123, split="heldout")
    with torch.no_grad():
        latents = encode_clips(pipe.vae, clips) * pipe.vae.config.scaling_factor
        ids = tokenize(pipe.tokenizer, captions)
        g = torch.Generator().manual_seed(0)
        noise = torch.randn(latents.shape, generator=g)
        timesteps = torch.linspace(50, 950, len(clips)).long()
        kind = pipe.scheduler.config.prediction_type
        args = (latents, ids, noise, timesteps)
        trained = diffusion_loss(
            pipe.unet, pipe.text_encoder, pipe.scheduler, *args, prediction_type=kind
        ).item()
        untrained = build_components(0, kind)
        scratch = diffusion_loss(
            untrained["unet"],
            untrained["text_encoder"],
            untrained["scheduler"],
            *args,
            prediction_type=kind,
        ).item()
    assert scratch > 0.5 and trained < 0.2 * scratch, (trained, scratch)


def test_shipped_testbed_draws_its_captions():
    """Plain samples of 8 held-out captions (25 DDIM steps, CFG 7.5, as ``python run.py``), read
    by the judge: v3 draws the caption's shape, colour, direction and background (0.95, 1.00,
    0.99, 1.00 over 48 prompts x 2 seeds). Thresholds leave room for another CPU's float32
    rounding, which can change a sample and the judge's reading."""
    from freqlab.models import load_model
    from freqlab.testbed.data import split_captions
    from freqlab.testbed.judge_eval import sample, score

    captions = split_captions("heldout")[::6]
    result = score(sample(load_model("testbed"), captions, [0]), captions)
    assert len(captions) == 8 and result["object_seen"] == 1.0, result
    assert min(result["shape"], result["colour"], result["background"]) >= 0.75, result
    assert result["direction"] >= 0.75 and result["all4"] >= 0.6, result
