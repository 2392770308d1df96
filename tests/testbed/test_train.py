"""freqlab.testbed.train: a short training run lowers the loss, checkpoints, resumes, exports and
reproduces from its seed; the learning-rate schedule; the v2 recipe (Min-SNR weights, EMA export);
the shipped weights come from the default settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from freqlab.testbed.data import make_clips
from freqlab.testbed.model import build_components
from freqlab.testbed.train import (
    TrainConfig,
    TrainConfigV2,
    TrainConfigV3,
    _lr_lambda,
    diffusion_loss,
    encode_clips,
    tokenize,
    train_testbed,
)

TINY = dict(num_clips=4, vae_steps=1, vae_batch=8, decoder_steps=1, batch_size=2, log_every=1)


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


def test_training_files_are_written_with_the_users_umask(tmp_path):
    """safetensors' writer alone leaves 0600 files; every file goes through freqlab.atomic."""
    import os

    old = os.umask(0o022)
    try:
        train_testbed(TrainConfig(**TINY, steps=1, checkpoint_every=1), tmp_path)
    finally:
        os.umask(old)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"vae.safetensors", "step_0000001.pt", "testbed.json"} <= {p.name for p in written}
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o644)}
    assert not [p for p in written if p.name.startswith(".")]  # no temporary file left


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


def test_shipped_weights_come_from_the_default_training_settings():
    """The shipped weights are v3's recipe (``python run.py task=train_testbed``'s default; the
    Hydra side is checked in tests/experiments/test_train_testbed.py)."""
    import json
    from dataclasses import asdict
    from importlib import resources

    meta = json.loads(
        resources.files("freqlab.testbed.weights").joinpath("testbed.json").read_text()
    )
    assert meta["train_config"] == asdict(TrainConfigV3())
    assert meta["steps"] == TrainConfigV3().steps


def _loss_args() -> tuple:
    """diffusion_loss's arguments before the timesteps: an untrained testbed, 2 random clips."""
    c = build_components(0)
    latents = torch.randn(2, 4, 8, 8, 8)
    noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(0))
    ids = torch.zeros(2, 16, dtype=torch.long)
    return (c["unet"], c["text_encoder"], c["scheduler"], latents, ids, noise)


def test_min_snr_weights_only_lower_the_low_noise_steps():
    args = _loss_args()
    with torch.no_grad():
        high = torch.tensor([900, 950])  # SNR < 5: weight 1, the plain MSE
        assert torch.allclose(diffusion_loss(*args, high, 5.0), diffusion_loss(*args, high))
        low = torch.tensor([5, 10])  # SNR >> 5: weighted down
        assert diffusion_loss(*args, low, 5.0) < 0.2 * diffusion_loss(*args, low)


def test_v2_exports_the_average_and_resumes_like_an_uninterrupted_run(tmp_path):
    cfg = TrainConfigV2(**TINY, steps=3, checkpoint_every=1, snr_gamma=5.0, ema_decay=0.5)
    train_testbed(cfg, tmp_path / "full")
    short = TrainConfigV2(**{**TINY, "steps": 2}, checkpoint_every=1, snr_gamma=5.0, ema_decay=0.5)
    train_testbed(short, tmp_path / "resumed")
    train_testbed(cfg, tmp_path / "resumed")
    full, resumed = (
        load_file(str(tmp_path / r / "weights/unet.safetensors")) for r in ("full", "resumed")
    )
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    last = torch.load(tmp_path / "full" / "step_0000003.pt", weights_only=True)
    assert set(last["ema"]) == {"unet", "text_encoder"}
    assert all(torch.equal(full[k], last["ema"]["unet"][k]) for k in full)
    assert any(not torch.equal(full[k], last["unet"][k]) for k in full)


def test_a_frozen_text_encoder_is_exported_as_built(tmp_path):
    # freeze_text_encoder: the seeded random encoder, bit for bit, while the UNet trains.
    cfg = TrainConfigV2(
        **TINY, steps=2, checkpoint_every=1, ema_decay=0.5, freeze_text_encoder=True
    )
    train_testbed(cfg, tmp_path)
    built = build_components(0)["text_encoder"].state_dict()
    exported = load_file(str(tmp_path / "weights/text_encoder.safetensors"))
    assert all(torch.equal(exported[k], built[k]) for k in exported)
    unet = load_file(str(tmp_path / "weights/unet.safetensors"))
    start = build_components(0)["unet"].state_dict()
    assert any(not torch.equal(unet[k], start[k]) for k in unet)


def test_high_noise_weight_only_raises_the_high_noise_steps():
    args = _loss_args()
    with torch.no_grad():
        low = torch.tensor([5, 10])  # SNR > 1: weight 1, the plain MSE
        assert torch.allclose(diffusion_loss(*args, low, 0.0, 20.0), diffusion_loss(*args, low))
        high = torch.tensor([990, 999])  # SNR ~ 0.002: 1 / SNR > 20, capped at 20
        assert torch.allclose(
            diffusion_loss(*args, high, 0.0, 20.0), 20 * diffusion_loss(*args, high)
        )


def test_v_prediction_regresses_the_velocity_with_min_snr_on_the_clean_error():
    unet, te, _, latents, ids, noise = _loss_args()
    scheduler = build_components(0, "v_prediction")["scheduler"]
    assert scheduler.config.prediction_type == "v_prediction"
    ts = torch.tensor([5, 990])
    a = scheduler.alphas_cumprod[ts].view(-1, 1, 1, 1, 1)
    velocity = a.sqrt() * noise - (1 - a).sqrt() * latents  # independent of get_velocity
    with torch.no_grad():
        pred = unet(
            scheduler.add_noise(latents, noise, ts),
            ts,
            encoder_hidden_states=te(ids)[0].repeat_interleave(8, 0),
        ).sample
        plain = diffusion_loss(
            unet, te, scheduler, latents, ids, noise, ts, prediction_type="v_prediction"
        )
        torch.testing.assert_close(plain, (pred - velocity).pow(2).mean())
        # Min-SNR for velocity: min(SNR, 5) / (SNR + 1) per sample.
        weighted = diffusion_loss(
            unet, te, scheduler, latents, ids, noise, ts, 5.0, prediction_type="v_prediction"
        )
        snr = scheduler.alphas_cumprod[ts] / (1 - scheduler.alphas_cumprod[ts])
        per = (pred - velocity).pow(2).flatten(1).mean(1)
        torch.testing.assert_close(weighted, (snr.clamp(max=5.0) / (snr + 1) * per).mean())
        with pytest.raises(ValueError, match="prediction_type"):
            diffusion_loss(unet, te, scheduler, latents, ids, noise, ts, prediction_type="sample")


def test_checkpoints_record_what_the_unet_predicts(tmp_path):
    from freqlab.testbed.judge_eval import pipeline_from

    cfg = TrainConfigV2(**TINY, steps=1, checkpoint_every=1, prediction_type="v_prediction")
    train_testbed(cfg, tmp_path)
    state = torch.load(tmp_path / "step_0000001.pt", weights_only=True)
    assert state["prediction_type"] == "v_prediction"
    for source in (tmp_path / "step_0000001.pt", tmp_path / "weights"):
        assert pipeline_from(source).scheduler.config.prediction_type == "v_prediction"
