"""Training the judge (:mod:`freqlab.testbed.judge`) on CPU, on clips rendered fresh every step.

The clips are the testbed's (:mod:`freqlab.testbed.data`: same shapes, colours, backgrounds and
motion), over all 288 combinations, widened and degraded so that the judge reads what generated
videos look like: larger and smaller shapes, slower and faster motion, objects partly out of frame,
faint or fading objects, jittered colours, blotchy backgrounds, blur, low contrast, noise, YUV 4:2:0
chroma (as MP4 stores it) and uint8 rounding. Some clips are blank (background only: shape, colour
and direction ``"none"``) and some objects stand still (direction ``"none"``), so that the judge
has somewhere else to go than the caption's object. Accuracy is measured on plain
:func:`~freqlab.testbed.data.make_clips` clips of seeds never drawn here, raw and after an MP4 round
trip (:func:`evaluate_judge`).

Every random draw of step ``k`` comes from a generator seeded by ``(seed, k)``, so a resumed run
equals an uninterrupted one. Nothing here imports Hydra.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm.auto import tqdm

from freqlab.atomic import atomic_path, write_atomic
from freqlab.testbed.data import (
    BACKGROUNDS,
    COLOURS,
    DIRECTIONS,
    NUM_FRAMES,
    SHAPES,
    SIZE,
    _shape_alpha,
    make_clips,
)
from freqlab.testbed.judge import ATTRIBUTES, JudgeNet, parse_caption, read_videos

log = logging.getLogger(__name__)
LogFn = Callable[[dict[str, float], int], None]
EVAL_SEED = 1_000_000  # make_clips seeds of the held-out evaluation (training draws never use it)


@dataclass
class JudgeConfig:
    """Hyper-parameters of the judge (defaults: the shipped weights)."""

    seed: int = 0
    steps: int = 2500
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 1e-4
    width: int = 32
    p_blank: float = 0.1  # clips with no object
    p_still: float = 0.08  # clips whose object does not move
    label_smoothing: float = 0.05
    eval_clips: int = 256  # held-out real clips per split for the final accuracy
    checkpoint_every: int = 250
    log_every: int = 10


# --------------------------------------------------------------------------- augmented clips


def _positions(
    rng: np.random.Generator, radius: np.ndarray, speed: np.ndarray, direction: np.ndarray
) -> np.ndarray:
    """Centres (N, T, 2): the path stays inside the frame, except that 20% of clips may put up
    to 70% of the radius outside (generated objects are not always framed)."""
    n = len(radius)
    margin = np.where(rng.uniform(size=n) < 0.2, radius * 0.3, radius + 1.0)
    travel = speed * (NUM_FRAMES - 1)
    lo = margin[:, None] - np.minimum(direction, 0) * travel[:, None]
    hi = SIZE - margin[:, None] - np.maximum(direction, 0) * travel[:, None]
    start = lo + rng.uniform(0, 1, (n, 2)) * np.maximum(hi - lo, 0)
    t = np.arange(NUM_FRAMES)
    return start[:, None, :] + direction[:, None, :] * speed[:, None, None] * t[None, :, None]


def render_training_clips(
    rng: np.random.Generator, n: int, p_blank: float, p_still: float
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` widened testbed clips and their labels.

    Returns:
        clips (N, T, 3, H, W) float32 in [0, 1] (before the image degradations of
        :func:`degrade`), labels (N, 4) int64: indices into :data:`ATTRIBUTES` ``shape``,
        ``colour``, ``direction``, ``background``.
    """
    colour = rng.integers(0, len(COLOURS), n)
    shape = rng.integers(0, len(SHAPES), n)
    direction = rng.integers(0, len(DIRECTIONS), n)
    background = rng.integers(0, len(BACKGROUNDS), n)
    kind = rng.uniform(size=n)
    blank, still = kind < p_blank, (kind >= p_blank) & (kind < p_blank + p_still)

    radius = rng.uniform(3.0, 8.0, n)
    speed = np.where(still, 0.0, rng.uniform(0.7, 2.3, n))
    centre = _positions(rng, radius, speed, np.array(list(DIRECTIONS.values()))[direction])
    grid = np.arange(SIZE) + 0.5
    dx = grid[None, None, None, :] - centre[:, :, 0, None, None]
    dy = grid[None, None, :, None] - centre[:, :, 1, None, None]
    dx, dy = np.broadcast_arrays(dx, dy)
    alpha = _shape_alpha(shape[:, None, None, None], dx, dy, radius[:, None, None, None])
    # Faint objects (30%) and objects fading in or out over the clip (15%).
    opacity = np.where(rng.uniform(size=n) < 0.3, rng.uniform(0.45, 1.0, n), 1.0)
    fade_to = np.where(rng.uniform(size=n) < 0.15, rng.uniform(0.35, 1.0, n), 1.0)
    ramp_t = np.linspace(0, 1, NUM_FRAMES)
    fade = 1 + (fade_to[:, None] - 1) * ramp_t[None]
    fade = np.where(rng.uniform(size=n)[:, None] < 0.5, fade, fade[:, ::-1])
    alpha = alpha * (opacity[:, None] * fade)[:, :, None, None] * ~blank[:, None, None, None]

    # Background: the named colour with a gradient of random strength, jitter and blotches.
    angle = rng.uniform(0, 2 * np.pi, n)
    yy, xx = np.meshgrid(grid / SIZE - 0.5, grid / SIZE - 0.5, indexing="ij")
    ramp = np.cos(angle)[:, None, None] * xx + np.sin(angle)[:, None, None] * yy
    strength = rng.uniform(0.2, 0.9, n)[:, None, None]
    bg_rgb = np.array(list(BACKGROUNDS.values()))[background]
    bg_rgb = bg_rgb * rng.uniform(0.85, 1.15, (n, 1)) * rng.uniform(0.93, 1.07, (n, 3))
    bg = bg_rgb[:, :, None, None] * (1.0 + strength * ramp)[:, None]
    blotch = rng.normal(0, 1, (n, 3, 4, 4)) * rng.uniform(0, 0.05, (n, 1, 1, 1))
    blotch *= rng.uniform(size=(n, 1, 1, 1)) < 0.4
    blotch_up = F.interpolate(
        torch.from_numpy(blotch), size=(SIZE, SIZE), mode="bicubic", align_corners=False
    ).numpy()
    bg = bg + blotch_up

    fg_rgb = np.array(list(COLOURS.values()))[colour]
    fg_rgb = np.clip(fg_rgb * rng.uniform(0.8, 1.08, (n, 1)) + rng.normal(0, 0.03, (n, 3)), 0, 1)
    a = alpha[:, :, None]
    clips = a * fg_rgb[:, None, :, None, None] + (1 - a) * bg[:, None]
    labels = np.stack(
        [
            np.where(blank, len(SHAPES), shape),
            np.where(blank, len(COLOURS), colour),
            np.where(blank | still, len(DIRECTIONS), direction),
            background,
        ],
        axis=1,
    )
    return np.clip(clips, 0, 1).astype(np.float32), labels.astype(np.int64)


def _gaussian_blur(clips: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each clip (N, T, 3, H, W) with its own spatial Gaussian ``sigma`` (N,) (0: none)."""
    x = torch.arange(-3, 4, dtype=torch.float32)
    kernel = torch.exp(-(x[None] ** 2) / (2 * sigma.clamp_min(1e-3)[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)  # (N, 7)
    n, t, c, h, w = clips.shape
    x = clips.permute(1, 2, 0, 3, 4).reshape(t * c, n, h, w)  # clips as channels: grouped conv
    x = F.conv2d(F.pad(x, (3, 3, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=n)
    x = F.conv2d(F.pad(x, (0, 0, 3, 3), mode="replicate"), kernel[:, None, :, None], groups=n)
    return x.reshape(t, c, n, h, w).permute(2, 0, 1, 3, 4)


def _chroma_420(clips: torch.Tensor) -> torch.Tensor:
    """Round-trip through YUV with chroma at half resolution (as yuv420p MP4 stores it)."""
    r, g, b = clips.unbind(2)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u, v = (b - y) * 0.564, (r - y) * 0.713
    uv = torch.stack([u, v], 2).flatten(0, 1)
    uv = F.interpolate(F.avg_pool2d(uv, 2), scale_factor=2, mode="bilinear", align_corners=False)
    u, v = uv.unflatten(0, clips.shape[:2]).unbind(2)
    r, b = y + v / 0.713, y + u / 0.564
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return torch.stack([r, g, b], 2)


def degrade(clips: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Image degradations of generated videos, each on a random part of the batch: blur (50%),
    lower contrast (30%), brightness (30%), noise (40%), YUV 4:2:0 chroma (50%); then uint8
    rounding. clips (N, T, 3, H, W) in [0, 1] -> same shape, in [0, 1]."""
    n = len(clips)

    def pick(p: float) -> torch.Tensor:
        return (torch.rand(n, generator=g) < p).float()[:, None, None, None, None]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(n, generator=g))[:, None, None, None, None]

    sigma = torch.rand(n, generator=g) * 1.3 * pick(0.5).flatten()
    clips = torch.where(
        sigma[:, None, None, None, None] > 0.05, _gaussian_blur(clips, sigma), clips
    )
    mean = clips.mean((1, 2, 3, 4), keepdim=True)
    contrast = 1 + pick(0.3) * (uniform(0.55, 1.0) - 1)
    clips = mean + contrast * (clips - mean)
    clips = clips * (1 + pick(0.3) * (uniform(0.85, 1.15) - 1))
    noise = torch.randn(clips.shape, generator=g) * uniform(0, 0.04) * pick(0.4)
    clips = clips + noise
    clips = torch.where(pick(0.5) > 0, _chroma_420(clips), clips)
    return (clips.clamp(0, 1) * 255).round() / 255


def training_batch(cfg: JudgeConfig, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``step``'s batch: clips (B, T, 3, H, W) in [0, 1] and labels (B, 4)."""
    rng = np.random.default_rng([cfg.seed, step, 7])
    clips, labels = render_training_clips(rng, cfg.batch_size, cfg.p_blank, cfg.p_still)
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    return degrade(torch.from_numpy(clips), g), torch.from_numpy(labels)


def judge_loss(
    judge: JudgeNet, clips: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum over attributes of the cross-entropy; also each attribute's batch accuracy."""
    logits = judge(clips)
    total, accuracy = torch.zeros(()), {}
    for i, name in enumerate(ATTRIBUTES):
        total = total + F.cross_entropy(logits[name], labels[:, i], label_smoothing=smoothing)
        accuracy[name] = (logits[name].argmax(-1) == labels[:, i]).float().mean().item()
    return total, accuracy


# --------------------------------------------------------------------------- evaluation


def mp4_round_trip(clips: torch.Tensor) -> torch.Tensor:
    """Each clip (N, T, 3, H, W) in [0, 1] written as MP4 (:func:`freqlab.video.write.save_video`)
    and read back (:func:`freqlab.video.read.read_video`): uint8 (N, T, 3, H, W)."""
    from freqlab.video.read import read_video
    from freqlab.video.write import save_video

    out = []
    with tempfile.TemporaryDirectory() as folder:
        for i, clip in enumerate(clips):
            path = save_video(clip, Path(folder) / f"{i}.mp4")
            out.append(read_video(path, clip.shape[0], clip.shape[2], clip.shape[3]))
    return torch.stack(out)


def evaluate_judge(
    judge: JudgeNet, n: int, seed: int = EVAL_SEED, mp4: bool = False
) -> dict[str, float]:
    """Accuracy per attribute (and ``all4``) on ``n`` real clips of each split of
    :func:`~freqlab.testbed.data.make_clips` (seeds ``seed``, ``seed + 1``), raw or after MP4."""
    clips, captions = [], []
    for offset, split in enumerate(("train", "heldout")):
        c, caps = make_clips(n, seed=seed + offset, split=split)
        clips.append(torch.from_numpy(c))
        captions += caps
    videos = torch.cat(clips)
    if mp4:
        videos = mp4_round_trip(videos)
    reading = read_videos(judge, videos)
    right = torch.stack(
        [
            torch.tensor(
                [
                    w == parse_caption(c)[name]
                    for w, c in zip(reading.names(name), captions, strict=True)
                ]
            )
            for name in ATTRIBUTES
        ],
        1,
    )
    result = {name: right[:, i].float().mean().item() for i, name in enumerate(ATTRIBUTES)}
    result["all4"] = right.all(1).float().mean().item()
    return result


# --------------------------------------------------------------------------- training loop


def _lr_factor(cfg: JudgeConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 2% of the peak."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = min((step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1), 1.0)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))


def _latest(out: Path) -> Path | None:
    found = sorted(out.glob("judge_step_*.pt"))
    return found[-1] if found else None


def _save_checkpoint(out: Path, step: int, judge: JudgeNet, opt: Any, sched: Any) -> None:
    state = dict(
        step=step,
        judge=judge.state_dict(),
        optimizer=opt.state_dict(),
        lr_scheduler=sched.state_dict(),
    )
    with atomic_path(out / f"judge_step_{step:07d}.pt") as tmp:
        torch.save(state, tmp)
    for old in sorted(out.glob("judge_step_*.pt"))[:-2]:  # keep the last two
        old.unlink()


def _truncate_csv(path: Path, step: int) -> None:
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        kept = lines[:1] + [r for r in lines[1:] if int(r.split(",")[0]) <= step]
        write_atomic(path, "".join(kept).encode())


def train_judge(cfg: JudgeConfig, out_dir: str | Path, log_fn: LogFn | None = None) -> dict:
    """Train the judge into ``out_dir`` (resuming from its latest checkpoint); returns a summary.

    ``out_dir`` receives ``judge_step_*.pt`` every ``cfg.checkpoint_every`` steps, ``loss.csv``
    and at the end ``weights/judge.safetensors`` + ``weights/judge.json`` (settings and held-out
    accuracy on real clips, raw and after MP4).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    judge = JudgeNet(cfg.width)
    opt = torch.optim.AdamW(judge.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(cfg, s))
    start, ckpt = 0, _latest(out)
    if ckpt is not None:
        state = torch.load(ckpt, weights_only=True)
        judge.load_state_dict(state["judge"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["lr_scheduler"])
        start = state["step"]
        log.info("resumed from %s (step %d)", ckpt, start)
        _truncate_csv(out / "loss.csv", start)
    names = list(ATTRIBUTES)
    with (out / "loss.csv").open("a", newline="") as loss_file:
        writer = csv.writer(loss_file)
        if start == 0:
            writer.writerow(["step", "loss", "lr", *(f"acc_{n}" for n in names)])
        judge.train()
        bar = tqdm(
            range(start, cfg.steps), desc="judge", initial=start, total=cfg.steps, mininterval=5
        )
        for step in bar:
            clips, labels = training_batch(cfg, step)
            loss, accuracy = judge_loss(judge, clips, labels, cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(judge.parameters(), 1.0)
            opt.step()
            sched.step()
            lr = sched.get_last_lr()[0]
            writer.writerow(
                [step + 1, f"{loss.item():.5f}", f"{lr:.3g}"]
                + [f"{accuracy[n]:.4f}" for n in names]
            )
            if (step + 1) % cfg.log_every == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if log_fn:
                    log_fn({"judge/loss": loss.item(), "judge/lr": lr}, step + 1)
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                loss_file.flush()
                _save_checkpoint(out, step + 1, judge, opt, sched)
    judge.eval()
    summary = dict(
        steps=max(start, cfg.steps),
        width=cfg.width,
        heldout_accuracy=evaluate_judge(judge, cfg.eval_clips),
        heldout_accuracy_mp4=evaluate_judge(judge, cfg.eval_clips, mp4=True),
        eval_clips=2 * cfg.eval_clips,
        config=asdict(cfg),
    )
    export_judge(judge, summary, out / "weights")
    return summary


def export_judge(judge: JudgeNet, summary: dict[str, Any], weights_dir: Path) -> None:
    """Write ``judge.safetensors`` and ``judge.json`` (the summary) into ``weights_dir``."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in judge.state_dict().items()}
    with atomic_path(weights_dir / "judge.safetensors") as tmp:
        save_file(state, str(tmp))
    write_atomic(weights_dir / "judge.json", (json.dumps(summary, indent=2) + "\n").encode())
