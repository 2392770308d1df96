"""freqlab.testbed.prior: each caption's mean clip, the pure-noise x0 loss, its batches, and the
two training stages that use it (2a alone, then as an extra term)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from freqlab.testbed.model import build_components
from freqlab.testbed.prior import caption_means, prior_batch, prior_loss
from freqlab.testbed.train import TrainConfigV2, train_testbed

TINY = dict(num_clips=4, vae_steps=1, vae_batch=8, decoder_steps=1, batch_size=2, log_every=1)


def test_caption_means_average_each_caption_and_all_clips_for_the_empty_one():
    latents = torch.arange(4 * 2, dtype=torch.float32).view(4, 2, 1, 1, 1)
    names, means = caption_means(latents, ["b", "a", "b", "b"])
    assert names == ["b", "a", ""]
    torch.testing.assert_close(means[0], (latents[0] + latents[2] + latents[3]) / 3)
    torch.testing.assert_close(means[1], latents[1])
    torch.testing.assert_close(means[2], latents.mean(0))
    with pytest.raises(ValueError, match="one caption per latent"):
        caption_means(latents, ["a"])


class _Oracle(torch.nn.Module):
    """An epsilon-predictor that implies exactly ``clean`` from pure noise at t = 999."""

    def __init__(self, clean: torch.Tensor, alpha_bar: torch.Tensor) -> None:
        super().__init__()
        self.clean, self.alpha_bar = clean, alpha_bar

    def forward(self, noise, timesteps, encoder_hidden_states):
        assert timesteps.tolist() == [999] * len(noise)
        assert encoder_hidden_states.shape[0] == len(noise) * noise.shape[2]  # per frame
        eps = (noise - self.alpha_bar.sqrt() * self.clean) / (1 - self.alpha_bar).sqrt()
        return type("Out", (), {"sample": eps})


def test_prior_loss_is_the_x0_error_implied_from_pure_noise():
    scheduler = build_components(0)["scheduler"]
    g = torch.Generator().manual_seed(0)
    noise, target = torch.randn(2, 4, 3, 2, 2, generator=g), torch.randn(2, 4, 3, 2, 2, generator=g)
    states = torch.zeros(2, 5, 8)
    alpha_bar = scheduler.alphas_cumprod[999]
    exact = _Oracle(target, alpha_bar)
    # float32: the oracle's round trip through epsilon leaves ~1e-5 of the x0 scale.
    assert prior_loss(exact, scheduler, target, states, noise).item() < 1e-8
    off = _Oracle(target + 0.5, alpha_bar)
    assert prior_loss(off, scheduler, target, states, noise).item() == pytest.approx(0.25, rel=1e-3)


def test_prior_batches_follow_the_generator_and_the_dropout():
    means, ids = torch.randn(5, 4, 2, 2, 2), torch.arange(5).view(5, 1).repeat(1, 3)
    first = prior_batch(means, ids, 8, 0.0, torch.Generator().manual_seed(3))
    again = prior_batch(means, ids, 8, 0.0, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    targets, batch_ids, noise = first
    assert noise.shape == (8, 4, 2, 2, 2)
    assert (batch_ids[:, 0] < 4).all()  # never the empty caption without dropout
    for target, row in zip(targets, batch_ids, strict=True):
        assert torch.equal(target, means[row[0]])
    _, dropped, _ = prior_batch(means, ids, 8, 1.0, torch.Generator().manual_seed(3))
    assert (dropped[:, 0] == 4).all()  # all dropped: the empty caption, the mean of all clips


def test_the_caption_prior_stage_runs_once_and_starts_the_unet(tmp_path):
    cfg = TrainConfigV2(**TINY, steps=2, checkpoint_every=1, prior_steps=2, prior_weight=0.5)
    train_testbed(cfg, tmp_path)
    prior = load_file(str(tmp_path / "prior.safetensors"))
    built = build_components(0)["unet"].state_dict()
    assert any(not torch.equal(prior[k], built[k]) for k in prior)
    assert json.loads((tmp_path / "prior.json").read_text())["prior_final_loss"] > 0
    # Resuming (a checkpoint exists) neither re-runs stage 2a nor reloads its weights.
    stamp = (tmp_path / "prior.safetensors").stat().st_mtime_ns
    train_testbed(
        TrainConfigV2(**{**TINY, "steps": 3}, checkpoint_every=1, prior_steps=2, prior_weight=0.5),
        tmp_path,
    )
    assert (tmp_path / "prior.safetensors").stat().st_mtime_ns == stamp
    assert (tmp_path / "step_0000003.pt").exists()


def test_the_prior_term_changes_training_only_when_weighted(tmp_path):
    plain = TrainConfigV2(**TINY, steps=2, checkpoint_every=2)
    weighted = TrainConfigV2(**TINY, steps=2, checkpoint_every=2, prior_weight=1.0)
    for name, cfg in (("plain", plain), ("weighted", weighted)):
        train_testbed(cfg, tmp_path / name)
    a, b = (
        load_file(str(tmp_path / n / "weights/unet.safetensors")) for n in ("plain", "weighted")
    )
    assert any(not torch.equal(a[k], b[k]) for k in a)
    # The same epsilon-MSE batches: the loss curve's first step (before any update) is equal.
    first = [(tmp_path / n / "loss.csv").read_text().splitlines()[1] for n in ("plain", "weighted")]
    assert first[0] == first[1]
