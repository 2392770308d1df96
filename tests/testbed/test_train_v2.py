"""The testbed's v2 recipe (train=testbed_v2): Min-SNR weights, EMA export, resume, config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict
from safetensors.torch import load_file

from experiments.settings import ConfigError
from experiments.train_testbed import train_config
from freqlab.testbed.model import build_components
from freqlab.testbed.train import TrainConfig, TrainConfigV2, diffusion_loss, train_testbed

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(num_clips=4, vae_steps=1, vae_batch=8, decoder_steps=1, batch_size=2, log_every=1)


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    with open_dict(cfg):
        cfg.paths = {"root": str(ROOT), "output_dir": "unused"}
    return cfg


def test_v2_config_composes_to_the_v2_recipe():
    settings = train_config(_compose(["task=train_testbed", "train=testbed_v2"]))
    assert isinstance(settings, TrainConfigV2)
    assert (
        settings.snr_gamma == 5.0
        and settings.ema_decay == 0.999
        and settings.steps == 10000
        and settings.vae_steps == 10000
    )
    assert type(train_config(_compose(["task=train_testbed"]))) is TrainConfig
    with pytest.raises(ConfigError, match="train.ema_decay"):
        train_config(_compose(["task=train_testbed", "train=testbed_v2", "train.ema_decay=1.0"]))


def test_min_snr_weights_only_lower_the_low_noise_steps():
    c = build_components(0)
    latents = torch.randn(2, 4, 8, 8, 8)
    noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(0))
    ids = torch.zeros(2, 16, dtype=torch.long)
    args = (c["unet"], c["text_encoder"], c["scheduler"], latents, ids, noise)
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
