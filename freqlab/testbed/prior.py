"""The caption prior: what the testbed's UNet should predict from pure noise (a training term).

Sampling starts from pure noise at the last training timestep ``T - 1``. There, the clean video
that minimises the expected x0-error given only the caption is the mean of that caption's
training clips: for "moving right" the object sits on the left in the first frames and on the
right in the last. The diffusion loss teaches this only weakly: at ``T - 1`` the target is one
clip rather than the mean, and the noisy latent still leaks that clip (the SNR leak FreeInit is
about), so the UNet learns to read the object's path from the noise; an epsilon-MSE also weighs
an x0-error there by ``SNR(T - 1)``, about 0.005.

:func:`prior_loss` regresses each caption's mean from pure noise instead. The testbed's v3
recipe (``prior_weight`` of :class:`freqlab.testbed.train.TrainConfigV3`) adds it to every UNet
step, with a velocity-predicting UNet and a frozen text encoder (README, "What it draws");
``prior_steps`` can also train on it alone before the main stage. The model keeps AnimateDiff's
architecture and noise schedule; only its training changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm


def caption_means(latents: torch.Tensor, captions: list[str]) -> tuple[list[str], torch.Tensor]:
    """The mean latent video of each caption, and of all clips for the empty caption.

    Args:
        latents: (N, C, T, h, w) training latents; captions: their N captions.

    Returns:
        The distinct captions in order of first appearance followed by ``""``, and their means
        (K + 1, C, T, h, w).
    """
    if len(captions) != len(latents) or not captions:
        raise ValueError(f"need one caption per latent, got {len(captions)} for {len(latents)}")
    names = list(dict.fromkeys(captions))
    index = {name: i for i, name in enumerate(names)}
    labels = torch.tensor([index[c] for c in captions])
    sums = torch.zeros(len(names), *latents.shape[1:], dtype=latents.dtype)
    sums.index_add_(0, labels, latents)
    counts = torch.bincount(labels, minlength=len(names)).to(latents.dtype)
    means = sums / counts.view(-1, *[1] * (latents.dim() - 1))
    return names + [""], torch.cat([means, latents.mean(0, keepdim=True)])


def prior_loss(
    unet: torch.nn.Module,
    scheduler: Any,
    targets: torch.Tensor,
    text_states: torch.Tensor,
    noise: torch.Tensor,
) -> torch.Tensor:
    """MSE between the clean video the UNet implies from pure ``noise`` at the last training
    timestep and ``targets`` (the captions' mean videos). targets, noise: (B, C, T, h, w);
    text_states: the text encoder's (B, L, D) hidden states of their captions."""
    last = scheduler.config.num_train_timesteps - 1
    timesteps = torch.full((len(noise),), last, dtype=torch.long)
    hidden = text_states.repeat_interleave(noise.shape[2], dim=0)
    out = unet(noise, timesteps, encoder_hidden_states=hidden).sample
    a = scheduler.alphas_cumprod[last]
    if scheduler.config.prediction_type == "v_prediction":
        clean = a.sqrt() * noise - (1 - a).sqrt() * out
    else:
        clean = (noise - (1 - a).sqrt() * out) / a.sqrt()
    return (clean - targets).pow(2).mean()


def prior_batch(
    means: torch.Tensor, ids: torch.Tensor, batch_size: int, cond_dropout: float, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of (targets, ids, noise): captions drawn uniformly from the K non-empty ones of
    :func:`caption_means` (``means`` (K + 1, ...), ``ids`` (K + 1, L)), each replaced by the
    empty caption and the mean of all clips with probability ``cond_dropout``."""
    pick = torch.randint(0, len(means) - 1, (batch_size,), generator=g)
    drop = torch.rand(batch_size, generator=g) < cond_dropout
    pick[drop] = len(means) - 1
    noise = torch.randn((batch_size, *means.shape[1:]), generator=g)
    return means[pick], ids[pick], noise


def train_prior(
    unet: torch.nn.Module,
    text_encoder: torch.nn.Module,
    scheduler: Any,
    means: torch.Tensor,
    ids: torch.Tensor,
    settings: dict[str, Any],
    generator: Callable[[int], torch.Generator],
    log_fn: Callable[[dict[str, float], int], None] | None = None,
) -> float:
    """Stage 2a: train ``unet`` in place on :func:`prior_loss` alone; returns the mean loss of
    the last 100 steps. The text encoder stays as it is (it is trained, if at all, in stage 2b).

    ``settings``: ``steps``, ``lr``, ``warmup`` (linear, then constant), ``batch_size``,
    ``cond_dropout``, ``weight_decay``, ``log_every``; ``generator(step)`` seeds step ``step``.
    """
    params = list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=settings["lr"], weight_decay=settings["weight_decay"])
    unet.train()
    text_encoder.eval()
    losses: list[float] = []
    bar = tqdm(range(settings["steps"]), desc="caption prior", mininterval=5)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = settings["lr"] * min(1.0, (step + 1) / max(settings["warmup"], 1))
        targets, batch_ids, noise = prior_batch(
            means, ids, settings["batch_size"], settings["cond_dropout"], generator(step)
        )
        with torch.no_grad():  # the encoder is not trained here; its states are constants
            states = text_encoder(batch_ids)[0]
        loss = prior_loss(unet, scheduler, targets, states, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if (step + 1) % settings["log_every"] == 0:
            mean = sum(losses[-settings["log_every"] :]) / settings["log_every"]
            bar.set_postfix(loss=f"{mean:.4f}")
            if log_fn:
                log_fn({"prior/loss": mean}, step + 1)
    return sum(losses[-100:]) / max(len(losses[-100:]), 1)
