"""The CPU testbed: deterministic data, held-out prompts, a short training run, shipped weights."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from freqlab.data import load_prompts
from freqlab.testbed.data import caption_words, make_clips, split_captions
from freqlab.testbed.model import build_components, caption_tokenizer
from freqlab.testbed.train import (
    TrainConfig,
    _lr_lambda,
    diffusion_loss,
    encode_clips,
    tokenize,
    train_testbed,
)


def test_shapes_prompts_are_held_out_captions():
    prompts = load_prompts("shapes")
    texts = [p.text for p in prompts]
    assert len(texts) == 48 == len(set(texts))
    assert not set(texts) & set(split_captions("train"))
    assert len(load_prompts("shapes", limit=8)) == 8


def test_every_caption_word_is_one_token():
    tokenizer = caption_tokenizer()
    for word in caption_words():
        assert len(tokenizer(word).input_ids) == 3, word  # BOS, word, EOS


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    components = build_components(0)
    clips, captions = make_clips(2, seed=0)
    latents = encode_clips(components["vae"], clips)
    ids = tokenize(components["tokenizer"], captions)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(latents.shape, generator=g)
    timesteps = torch.tensor([100, 700])
    params = [*components["unet"].parameters(), *components["text_encoder"].parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    losses = []
    for _ in range(5):
        loss = diffusion_loss(
            components["unet"],
            components["text_encoder"],
            components["scheduler"],
            latents,
            ids,
            noise,
            timesteps,
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_training_checkpoints_resumes_and_exports(tmp_path):
    cfg = TrainConfig(
        num_clips=4,
        vae_steps=2,
        vae_batch=8,
        decoder_steps=1,
        steps=2,
        batch_size=2,
        checkpoint_every=1,
        log_every=1,
    )
    logged = []
    summary = train_testbed(cfg, tmp_path, lambda m, step: logged.append((step, m)))
    assert (tmp_path / "step_0000002.pt").exists() and np.isfinite(summary["final_loss"])
    assert any("unet/loss" in m for _, m in logged) and any("vae/loss" in m for _, m in logged)
    cfg.steps = 3
    summary = train_testbed(cfg, tmp_path)  # resumes at step 2: one more step
    rows = (tmp_path / "loss.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr" and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    files = {p.name for p in (tmp_path / "weights").iterdir()}
    assert {"vae.safetensors", "unet.safetensors", "text_encoder.safetensors"} <= files


def test_training_is_reproducible_from_the_seed(tmp_path):
    cfg = TrainConfig(num_clips=4, vae_steps=2, vae_batch=8, decoder_steps=1, steps=2, batch_size=2)
    first = train_testbed(cfg, tmp_path / "a")
    second = train_testbed(cfg, tmp_path / "b")
    assert first["final_loss"] == second["final_loss"]
    assert (tmp_path / "a" / "loss.csv").read_text() == (tmp_path / "b" / "loss.csv").read_text()


def test_lr_warms_up_then_decays_to_the_floor():
    factor = _lr_lambda(TrainConfig(steps=1000, warmup=100, min_lr_ratio=0.05))
    assert factor(0) == pytest.approx(0.01) and factor(49) == pytest.approx(0.5)
    assert factor(99) == pytest.approx(1.0)  # the end of warm-up: the full rate
    assert factor(549) == pytest.approx(0.525)  # half-way through the cosine
    assert factor(999) == pytest.approx(0.05)
    values = [factor(s) for s in range(99, 1000)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    constant = _lr_lambda(TrainConfig(steps=1000, warmup=100, min_lr_ratio=1.0))
    assert {constant(s) for s in range(99, 1000)} == {1.0}


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
    """The shipped UNet has learnt: its epsilon-MSE on clips of held-out captions is a small
    fraction of an untrained UNet's (about 1)."""
    from freqlab.models import load_model

    pipe = load_model("testbed")
    clips, captions = make_clips(8, seed=123, split="heldout")
    with torch.no_grad():
        latents = encode_clips(pipe.vae, clips) * pipe.vae.config.scaling_factor
        ids = tokenize(pipe.tokenizer, captions)
        g = torch.Generator().manual_seed(0)
        noise = torch.randn(latents.shape, generator=g)
        timesteps = torch.linspace(50, 950, len(clips)).long()
        args = (latents, ids, noise, timesteps)
        trained = diffusion_loss(pipe.unet, pipe.text_encoder, pipe.scheduler, *args).item()
        untrained = build_components(0)
        scratch = diffusion_loss(
            untrained["unet"], untrained["text_encoder"], untrained["scheduler"], *args
        ).item()
    assert scratch > 0.5 and trained < 0.2 * scratch, (trained, scratch)


def test_shipped_weights_come_from_the_default_training_settings():
    """``python run.py task=train_testbed`` with no overrides reproduces the shipped weights."""
    import json
    from dataclasses import asdict
    from importlib import resources

    meta = json.loads(
        resources.files("freqlab.testbed.weights").joinpath("testbed.json").read_text()
    )
    assert meta["train_config"] == asdict(TrainConfig())
    assert meta["steps"] == TrainConfig().steps
