"""Training the testbed on CPU: stage 1 the VAE on frames, stage 2 the motion UNet (+ text encoder).

Stage 2 is AnimateDiff's objective: epsilon-prediction MSE at uniform timesteps of the DDIM
schedule (linear beta 0.00085 -> 0.012, 1000 steps), on clips encoded once by the frozen VAE,
with 10% of captions dropped to "" for classifier-free guidance. Every random draw of step ``k``
comes from a generator seeded by ``(seed, k)``, so a resumed run equals an uninterrupted one.
Checkpoints go to ``out_dir`` every ``checkpoint_every`` steps; :func:`train_testbed` resumes
from the latest. Nothing here imports Hydra; the loss curve goes to a CSV and to an optional
``log(metrics, step)`` callback (W&B in :mod:`experiments.train_testbed`).
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from freqlab.atomic import atomic_path, write_atomic, write_json_atomic
from freqlab.testbed.data import make_clips
from freqlab.testbed.model import WEIGHT_FILES, build_components
from freqlab.testbed.prior import caption_means, prior_batch, prior_loss, train_prior

log = logging.getLogger(__name__)
LogFn = Callable[[dict[str, float], int], None]


@dataclass
class TrainConfig:
    """Hyper-parameters of both stages (defaults: v1, the testbed shipped until 2026-12-05;
    ``conf/train/testbed.yaml``)."""

    seed: int = 0
    num_clips: int = 4096  # training clips, rendered and encoded once
    vae_steps: int = 1500
    vae_batch: int = 16  # frames per VAE step
    vae_lr: float = 2e-3
    vae_kl_weight: float = 1e-6
    decoder_steps: int = 1500  # stage 1b: decoder only, encoder frozen
    steps: int = 5000  # UNet steps
    batch_size: int = 8  # clips per UNet step
    lr: float = 1e-3
    warmup: int = 100
    min_lr_ratio: float = 0.05  # cosine decay to lr * min_lr_ratio at the end (1: constant)
    weight_decay: float = 1e-2
    cond_dropout: float = 0.1
    checkpoint_every: int = 250
    log_every: int = 10


@dataclass
class TrainConfigV2(TrainConfig):
    """The recipe of v2, the testbed shipped until 2026-12-05 (``conf/train/testbed_v2.yaml``):
    v1's fields with longer VAE stages, 4x the clips and 4x the clips seen by the UNet, plus
    fields that v1 lacks (off at zero):

    * ``snr_gamma``: Min-SNR-gamma loss weights (Hang et al., 2023): each sample's
      epsilon-MSE is weighted by ``min(SNR(t), gamma) / SNR(t)``, so the many easy low-noise
      steps stop dominating the gradient (0: uniform weights, as v1).
    * ``ema_decay``: an exponential moving average of the UNet and text encoder weights is kept
      and exported instead of the last weights (0: none, as v1).
    * ``freeze_text_encoder``: keep the (seeded, random) text encoder as built, as AnimateDiff
      and Stable Diffusion keep their pretrained CLIP frozen. Trained jointly (v1, v2), it learns
      to suppress what the UNet does not yet use: by step 2,500 of a run it mapped "moving left"
      and "moving right" to hidden states 0.4 apart (summed over tokens), against 8.8 as built,
      while colours moved further apart (8.8 to 17).
    * ``high_noise_weight``: k > 1 weights each sample's loss also by ``clamp(1 / SNR, 1, k)``
      (:func:`diffusion_loss`), for what is decided at high noise (0: off).
    * ``trail``: the UNet's training clips draw a fading tail ``trail`` radii long behind the
      object (:func:`freqlab.data.shapes.render_clips`), so that every frame shows the direction
      as a local shape (0: none). The VAE stages keep tail-free frames, so a run differing only
      here reuses their files.
    * ``prior_steps``, ``prior_weight``, ``prior_batch``: the caption prior
      (:mod:`freqlab.testbed.prior`): ``prior_steps`` UNet steps on it alone before the main
      stage, and ``prior_weight`` times its loss on ``prior_batch`` captions added to every
      main step (0: off).
    * ``prediction_type``: what the UNet predicts, ``"epsilon"`` (AnimateDiff, v1, v2) or
      ``"v_prediction"`` (the velocity; same architecture and noise schedule).

    v3's recipe (:class:`TrainConfigV3`) turns on the last two and the frozen encoder; the
    others did not make v2's samples follow the direction word (README, "What it draws").
    """

    num_clips: int = 16384
    vae_steps: int = 10000
    decoder_steps: int = 5000
    steps: int = 10000
    batch_size: int = 16
    warmup: int = 200
    min_lr_ratio: float = 0.1
    snr_gamma: float = 5.0
    ema_decay: float = 0.999
    freeze_text_encoder: bool = False
    high_noise_weight: float = 0.0
    trail: float = 0.0
    prior_steps: int = 0
    prior_weight: float = 0.0
    prior_batch: int = 4
    prediction_type: str = "epsilon"


@dataclass
class TrainConfigV3(TrainConfigV2):
    """The recipe of the shipped testbed, v3 (``conf/train/testbed_v3.yaml``, the default of
    ``task=train_testbed``; defaults: the shipped weights): v2's, with three changes that
    together make the samples move the caption's way (README, "What it draws"):

    * the UNet predicts the velocity (``prediction_type="v_prediction"``, plain MSE,
      ``snr_gamma=0``): at high noise its output is then mostly the clean video, which can carry
      the caption's layout; an epsilon-predictor must copy its input to within a fraction of a
      percent before any of it shows;
    * the caption prior (``prior_weight=1.0``): each step also regresses, from pure noise at
      ``t = 999``, each of 4 captions' mean training clip, which says where each direction's
      object is in each frame;
    * the text encoder stays as built (``freeze_text_encoder``), so it keeps the direction words
      apart while the UNet learns to use them.
    """

    snr_gamma: float = 0.0
    freeze_text_encoder: bool = True
    prior_weight: float = 1.0
    prediction_type: str = "v_prediction"


def _generator(seed: int, step: int, stage: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + stage * 100_003 + step)


# --------------------------------------------------------------------------- stage 1: VAE


def vae_loss(
    vae: torch.nn.Module, frames: torch.Tensor, kl_weight: float, g: torch.Generator
) -> torch.Tensor:
    """Reconstruction MSE + ``kl_weight`` * KL of a batch of frames (B, 3, H, W) in [-1, 1]."""
    posterior = vae.encode(frames).latent_dist
    z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=g)
    recon = vae.decode(z).sample
    return F.mse_loss(recon, frames) + kl_weight * posterior.kl().mean()


def _vae_frames(cfg: TrainConfig, seed: int) -> torch.Tensor:
    """A VAE-stage batch: every other frame of ``cfg.vae_batch // 4`` fresh clips of ``seed``,
    ``(vae_batch // 4 * T // 2, 3, H, W)`` in [-1, 1]."""
    clips, _ = make_clips(cfg.vae_batch // 4, seed=seed)
    return torch.from_numpy(clips[:, ::2].reshape(-1, *clips.shape[2:])) * 2 - 1


def _vae_step(
    opt: torch.optim.Optimizer,
    loss: torch.Tensor,
    cfg: TrainConfig,
    step: int,
    key: str,
    log_fn: LogFn | None,
) -> None:
    """One optimiser step of a VAE stage on ``loss``, logged as ``key`` every ``cfg.log_every``."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if log_fn and step % cfg.log_every == 0:
        log_fn({key: loss.item()}, step)


def train_vae(vae: torch.nn.Module, cfg: TrainConfig, log_fn: LogFn | None = None) -> float:
    """Train the VAE in place on random frames of fresh clips; returns the last loss."""
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=cfg.weight_decay)
    vae.train()
    loss = torch.tensor(float("nan"))
    for step in tqdm(range(cfg.vae_steps), desc="vae", mininterval=5):
        frames = _vae_frames(cfg, cfg.seed * 7919 + step)
        loss = vae_loss(vae, frames, cfg.vae_kl_weight, _generator(cfg.seed, step, 1))
        _vae_step(opt, loss, cfg, step, "vae/loss", log_fn)
    vae.eval()
    return loss.item()


def finetune_decoder(vae: torch.nn.Module, cfg: TrainConfig, log_fn: LogFn | None = None) -> float:
    """Stage 1b: train the decoder alone on posterior means, encoder frozen; returns the last loss.

    The latent space (what stage 2 learns) is the encoder's, so this stage is independent of
    stage 2 and sharpens the decoded videos (as Stable Diffusion's ft-MSE decoder fine-tuning).
    """
    decoder = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    opt = torch.optim.AdamW(decoder, lr=cfg.vae_lr, weight_decay=cfg.weight_decay)
    vae.eval()
    vae.decoder.train()
    loss = torch.tensor(float("nan"))
    for step in tqdm(range(cfg.decoder_steps), desc="decoder", mininterval=5):
        frames = _vae_frames(cfg, cfg.seed * 7919 + 500_000 + step)
        with torch.no_grad():
            z = vae.encode(frames).latent_dist.mean
        loss = F.mse_loss(vae.decode(z).sample, frames)
        _vae_step(opt, loss, cfg, step, "decoder/loss", log_fn)
    vae.eval()
    return loss.item()


@torch.no_grad()
def encode_clips(vae: torch.nn.Module, clips: np.ndarray, chunk: int = 32) -> torch.Tensor:
    """Posterior means of clips (N, T, 3, H, W) in [0, 1] -> unscaled latents (N, 4, T, h, w)."""
    out = []
    for i in range(0, len(clips), chunk):
        x = torch.from_numpy(clips[i : i + chunk])
        n, t = x.shape[:2]
        z = vae.encode(x.flatten(0, 1) * 2 - 1).latent_dist.mean
        out.append(z.unflatten(0, (n, t)).permute(0, 2, 1, 3, 4))
    return torch.cat(out)


# --------------------------------------------------------------------------- stage 2: UNet


def encode_text(text_encoder: torch.nn.Module, ids: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Token ids (B, L) -> hidden states repeated per frame (B*T, L, D), as AnimateDiff does."""
    hidden = text_encoder(ids)[0]
    return hidden.repeat_interleave(num_frames, dim=0)


def diffusion_loss(
    unet: torch.nn.Module,
    text_encoder: torch.nn.Module,
    scheduler: Any,
    latents: torch.Tensor,
    ids: torch.Tensor,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    snr_gamma: float = 0.0,
    high_noise_weight: float = 0.0,
    prediction_type: str = "epsilon",
) -> torch.Tensor:
    """Epsilon-prediction MSE (or, with ``prediction_type="v_prediction"``, the MSE of the
    velocity ``sqrt(a) noise - sqrt(1 - a) latents``). latents, noise: (B, 4, T, h, w); ids
    (B, L); timesteps (B,).

    ``snr_gamma`` > 0: each sample's MSE weighted by ``min(SNR, gamma) / SNR`` (Min-SNR; for
    velocity ``min(SNR, gamma) / (SNR + 1)``, the same weights on the clean latent's error).
    ``high_noise_weight`` = k > 1: also by ``clamp(1 / SNR, 1, k)``: up to k times more weight on
    the steps with SNR < 1, where an error in the clean latent moves the epsilon-MSE only by a
    factor SNR (the x0-loss's weight, capped)."""
    noisy = scheduler.add_noise(latents, noise, timesteps)
    states = encode_text(text_encoder, ids, latents.shape[2])
    pred = unet(noisy, timesteps, encoder_hidden_states=states).sample
    if prediction_type == "v_prediction":
        target = scheduler.get_velocity(latents, noise, timesteps)
    elif prediction_type == "epsilon":
        target = noise
    else:
        raise ValueError(
            f"prediction_type must be 'epsilon' or 'v_prediction', got {prediction_type!r}"
        )
    if snr_gamma <= 0 and high_noise_weight <= 1:
        return F.mse_loss(pred, target)
    alpha_bar = scheduler.alphas_cumprod.to(latents.device)[timesteps]
    snr = alpha_bar / (1 - alpha_bar)
    weight = torch.ones_like(snr)
    if snr_gamma > 0:
        velocity = prediction_type == "v_prediction"
        weight = weight * snr.clamp(max=snr_gamma) / (snr + 1 if velocity else snr)
    if high_noise_weight > 1:
        weight = weight * (1 / snr).clamp(min=1.0, max=high_noise_weight)
    per_sample = (pred - target).pow(2).flatten(1).mean(1)
    return (weight * per_sample).mean()


def sample_batch(
    latents: torch.Tensor, ids: torch.Tensor, empty_ids: torch.Tensor, cfg: TrainConfig, step: int
) -> tuple[torch.Tensor, ...]:
    """Step ``step``'s batch: (latents, ids with dropped captions, noise, timesteps)."""
    g = _generator(cfg.seed, step, 2)
    index = torch.randint(0, len(latents), (cfg.batch_size,), generator=g)
    batch_ids = ids[index].clone()
    drop = torch.rand(cfg.batch_size, generator=g) < cfg.cond_dropout
    batch_ids[drop] = empty_ids
    noise = torch.randn(latents[index].shape, generator=g)
    timesteps = torch.randint(0, 1000, (cfg.batch_size,), generator=g)
    return latents[index], batch_ids, noise, timesteps


def tokenize(tokenizer: Any, captions: list[str]) -> torch.Tensor:
    """Captions -> (N, L) ids, padded as AnimateDiffPipeline pads them."""
    return tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def _lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Linear warm-up over ``cfg.warmup`` steps, then cosine decay to ``cfg.min_lr_ratio``."""

    def factor(step: int) -> float:
        if step + 1 < cfg.warmup:
            return (step + 1) / cfg.warmup
        span = max(cfg.steps - cfg.warmup, 1)
        progress = min(max(step + 1 - cfg.warmup, 0) / span, 1.0)
        return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (
            1.0 + math.cos(math.pi * progress)
        )

    return factor


def _latest_checkpoint(out_dir: Path) -> Path | None:
    found = sorted(out_dir.glob("step_*.pt"))
    return found[-1] if found else None


def prepare_data(components: dict[str, Any], cfg: TrainConfig, out_dir: Path) -> dict[str, Any]:
    """Stage 1 (or its checkpoint) and the encoded training set: latents scaled to unit std."""
    vae = components["vae"]
    meta: dict[str, Any] = {}
    for name in ("vae", "decoder"):  # the decoder's file, if any, has the same (frozen) encoder
        if (out_dir / f"{name}.safetensors").exists():
            vae.load_state_dict(load_file(str(out_dir / f"{name}.safetensors")))
            meta |= json.loads((out_dir / f"{name}.json").read_text())
    vae.eval()
    clips, captions = make_clips(cfg.num_clips, seed=cfg.seed, trail=getattr(cfg, "trail", 0.0))
    latents = encode_clips(vae, clips)
    scale = 1.0 / latents.std().item()
    return dict(latents=latents * scale, captions=captions, scale=scale, meta=meta)


def train_testbed(
    cfg: TrainConfig, out_dir: str | Path, log_fn: LogFn | None = None
) -> dict[str, Any]:
    """Train both stages into ``out_dir`` (resuming from its checkpoints); returns a summary.

    ``out_dir`` receives ``vae.safetensors``/``vae.json`` after stage 1, ``step_*.pt`` every
    ``cfg.checkpoint_every`` UNet steps, ``loss.csv``, and at the end the shippable weights
    ``weights/{vae,text_encoder,unet}.safetensors`` + ``weights/testbed.json``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    components = build_components(cfg.seed, getattr(cfg, "prediction_type", "epsilon"))
    vae, unet, text_encoder = components["vae"], components["unet"], components["text_encoder"]
    scheduler, tokenizer = components["scheduler"], components["tokenizer"]

    if not (out / "vae.safetensors").exists():
        vae_loss_final = train_vae(vae, cfg, log_fn)
        _save_safetensors(vae.state_dict(), out / "vae.safetensors")
        write_json_atomic(out / "vae.json", {"vae_final_loss": vae_loss_final})
    if not (out / "decoder.safetensors").exists():
        vae.load_state_dict(load_file(str(out / "vae.safetensors")))
        decoder_loss = finetune_decoder(vae, cfg, log_fn)
        _save_safetensors(vae.state_dict(), out / "decoder.safetensors")
        write_json_atomic(out / "decoder.json", {"decoder_final_loss": decoder_loss})
    data = prepare_data(components, cfg, out)
    ids = tokenize(tokenizer, data["captions"])
    empty_ids = tokenize(tokenizer, [""])[0]
    log.info("latents %s, scaling factor %.4f", tuple(data["latents"].shape), data["scale"])
    write_json_atomic(out / "latents.json", {"vae_scaling_factor": data["scale"]})
    snr_gamma = getattr(cfg, "snr_gamma", 0.0)
    prior_weight = getattr(cfg, "prior_weight", 0.0)
    names, means = caption_means(data["latents"], data["captions"])
    prior_ids = tokenize(tokenizer, names)
    ckpt = _latest_checkpoint(out)
    if getattr(cfg, "prior_steps", 0) > 0 and ckpt is None:
        _caption_prior_stage(components, cfg, out, means, prior_ids, log_fn)

    frozen = getattr(cfg, "freeze_text_encoder", False)
    text_encoder.requires_grad_(not frozen)
    params = list(unet.parameters()) + ([] if frozen else list(text_encoder.parameters()))
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    ema = _Ema(unet, text_encoder, getattr(cfg, "ema_decay", 0.0))  # after stage 2a's weights
    start = 0
    if ckpt is not None:
        state = torch.load(ckpt, weights_only=True)
        unet.load_state_dict(state["unet"])
        text_encoder.load_state_dict(state["text_encoder"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["lr_scheduler"])
        start = state["step"]
        ema.load_state_dict(state.get("ema"))
        log.info("resumed from %s (step %d)", ckpt, start)
        _truncate_loss_csv(out / "loss.csv", start)

    unet.train()
    text_encoder.train(not frozen)
    loss_file = (out / "loss.csv").open("a", newline="")
    writer = csv.writer(loss_file)
    if start == 0:
        writer.writerow(["step", "loss", "lr"])
    bar = tqdm(range(start, cfg.steps), desc="unet", initial=start, total=cfg.steps, mininterval=5)
    losses: list[float] = []
    prior_losses: list[float] = []
    for step in bar:
        latents, batch_ids, noise, timesteps = sample_batch(
            data["latents"], ids, empty_ids, cfg, step
        )
        loss = diffusion_loss(
            unet,
            text_encoder,
            scheduler,
            latents,
            batch_ids,
            noise,
            timesteps,
            snr_gamma,
            getattr(cfg, "high_noise_weight", 0.0),
            getattr(cfg, "prediction_type", "epsilon"),
        )
        total = loss
        if prior_weight > 0:  # the caption prior kept as an extra term (loss.csv: epsilon-MSE)
            targets, p_ids, p_noise = prior_batch(
                means, prior_ids, cfg.prior_batch, cfg.cond_dropout, _generator(cfg.seed, step, 4)
            )
            p_loss = prior_loss(unet, scheduler, targets, text_encoder(p_ids)[0], p_noise)
            prior_losses.append(p_loss.item())
            total = loss + prior_weight * p_loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        ema.update()
        losses.append(loss.item())
        writer.writerow([step + 1, f"{loss.item():.6f}", f"{sched.get_last_lr()[0]:.3g}"])
        if (step + 1) % cfg.log_every == 0:
            mean = float(np.mean(losses[-cfg.log_every :]))
            bar.set_postfix(loss=f"{mean:.4f}")
            if log_fn:
                logged = {"unet/loss": mean, "unet/lr": sched.get_last_lr()[0]}
                if prior_losses:
                    logged["unet/prior_loss"] = float(np.mean(prior_losses[-cfg.log_every :]))
                log_fn(logged, step + 1)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            loss_file.flush()
            _save_checkpoint(
                out, step + 1, unet, text_encoder, opt, sched, ema.state_dict(), scheduler
            )
    loss_file.close()
    ema.copy_to_models()  # export the averaged weights (a no-op without EMA)
    unet.eval()
    text_encoder.eval()
    summary = dict(
        steps=max(start, cfg.steps),  # the weights exported: a later checkpoint wins
        final_loss=_final_loss(out / "loss.csv"),
        vae_scaling_factor=data["scale"],
        vae_final_loss=data["meta"].get("vae_final_loss"),
        decoder_final_loss=data["meta"].get("decoder_final_loss"),
        config=asdict(cfg),
    )
    export_weights(components, data["scale"], summary, out / "weights")
    return summary


def _caption_prior_stage(
    components: dict[str, Any],
    cfg: TrainConfig,
    out: Path,
    means: torch.Tensor,
    ids: torch.Tensor,
    log_fn: LogFn | None,
) -> None:
    """Stage 2a (or its file ``prior.safetensors``): the UNet trained on the caption prior
    (:mod:`freqlab.testbed.prior`), loaded into ``components["unet"]``."""
    unet = components["unet"]
    path = out / "prior.safetensors"
    if not path.exists():
        settings = dict(
            steps=cfg.prior_steps,
            lr=cfg.lr,
            warmup=cfg.warmup,
            batch_size=cfg.batch_size,
            cond_dropout=cfg.cond_dropout,
            weight_decay=cfg.weight_decay,
            log_every=cfg.log_every,
        )
        final = train_prior(
            unet,
            components["text_encoder"],
            components["scheduler"],
            means,
            ids,
            settings,
            lambda step: _generator(cfg.seed, step, 3),
            log_fn,
        )
        _save_safetensors(unet.state_dict(), path)
        write_json_atomic(out / "prior.json", {"prior_final_loss": final})
    unet.load_state_dict(load_file(str(path)))
    log.info("caption prior: %s", json.loads((out / "prior.json").read_text()))


class _Ema:
    """Exponential moving average of the UNet's and text encoder's parameters and buffers
    (``decay`` 0: disabled, every method a no-op)."""

    def __init__(self, unet: torch.nn.Module, text_encoder: torch.nn.Module, decay: float) -> None:
        self.models = {"unet": unet, "text_encoder": text_encoder}
        self.decay = decay
        self.shadow = (
            {
                n: {k: v.detach().clone() for k, v in m.state_dict().items()}
                for n, m in self.models.items()
            }
            if decay > 0
            else {}
        )

    @torch.no_grad()
    def update(self) -> None:
        for name, model in self.models.items() if self.decay > 0 else ():
            for key, value in model.state_dict().items():
                shadow = self.shadow[name][key]
                if value.is_floating_point():
                    shadow.lerp_(value, 1 - self.decay)
                else:
                    shadow.copy_(value)

    def state_dict(self) -> dict[str, Any] | None:
        return self.shadow or None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.decay > 0 and state is not None:
            self.shadow = state

    def copy_to_models(self) -> None:
        for name, model in self.models.items() if self.decay > 0 else ():
            model.load_state_dict(self.shadow[name])


def _truncate_loss_csv(loss_csv: Path, step: int) -> None:
    """Drop the rows after ``step`` (logged after the checkpoint a resumed run starts from)."""
    if loss_csv.exists():
        lines = loss_csv.read_text().splitlines(keepends=True)
        kept = lines[:1] + [r for r in lines[1:] if int(r.split(",")[0]) <= step]
        write_atomic(loss_csv, "".join(kept).encode())


def _final_loss(loss_csv: Path, last: int = 100) -> float | None:
    """Mean loss of the last ``last`` steps recorded in ``loss.csv`` (None if there are none)."""
    with loss_csv.open() as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    return float(np.mean(losses[-last:])) if losses else None


def _save_checkpoint(
    out: Path,
    step: int,
    unet: torch.nn.Module,
    text_encoder: torch.nn.Module,
    opt: torch.optim.Optimizer,
    sched: Any,
    ema: dict[str, Any] | None = None,
    scheduler: Any = None,
) -> None:
    state = dict(
        step=step,
        unet=unet.state_dict(),
        text_encoder=text_encoder.state_dict(),
        optimizer=opt.state_dict(),
        lr_scheduler=sched.state_dict(),
    )
    if ema is not None:
        state["ema"] = ema
    if scheduler is not None:  # what the UNet predicts, for judge_eval and the probe
        state["prediction_type"] = scheduler.config.prediction_type
    with atomic_path(out / f"step_{step:07d}.pt") as tmp:
        torch.save(state, tmp)
    for old in sorted(out.glob("step_*.pt"))[:-2]:  # keep the last two
        old.unlink()


def export_weights(
    components: dict[str, Any], scale: float, summary: dict[str, Any], weights_dir: Path
) -> None:
    """Write ``{vae,text_encoder,unet}.safetensors`` + ``testbed.json`` (scaling factor, summary)."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    for name in WEIGHT_FILES:
        _save_safetensors(components[name].state_dict(), weights_dir / f"{name}.safetensors")
    meta = {k: v for k, v in summary.items() if k != "config"} | {"vae_scaling_factor": scale}
    meta["train_config"] = summary.get("config")
    write_json_atomic(weights_dir / "testbed.json", meta)


def _save_safetensors(state: dict[str, torch.Tensor], path: Path) -> None:
    # Atomic and with the user's umask: safetensors' own writer leaves new files 0600.
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
