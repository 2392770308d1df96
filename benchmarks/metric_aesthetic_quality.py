"""Aesthetic quality throughput vs a bare CLIP ViT-L/14 image forward on the same frames (CPU,
random weights).

Run with ``python -m benchmarks.metric_aesthetic_quality``. In one process, with one torch
thread, on ``VIDEOS x FRAMES`` uint8 frames of 224 x 224 it times:

* ``evaluation.metrics.aesthetic_quality.aesthetic_quality(videos, weights="random",
  head_weights="random")``: input checks, uint8 -> float, VBench's ``clip_transform`` (a no-op
  resize at 224 but for the normalisation), open_clip ViT-L/14 ``encode_image`` in chunks of
  ``BATCH_SIZE`` frames under ``inference_mode``, L2 normalisation, LAION's linear head, / 10 and
  the mean over frames;
* a bare ``encode_image`` of the same model (same weights) on the same frames, already
  preprocessed, in chunks of the same size under ``inference_mode``.

After a warm-up of each, the two alternate ``ROUNDS`` times so that load drifts hit both alike.
Throughput is frames per second of the median process CPU time (with one thread it measures the
work done even when other processes share the cores); wall time is shown beside it.
Target: metric throughput >= 0.9 x the bare forward.

A second, informative row feeds the metric 320 x 512 frames (VBench's sampled videos: it resizes
and crops them) while the bare forward gets the 224 x 224 frames: it shows what the preprocessing
costs. ViT-L/14 takes about a second a frame on one core, so frames are few. ``--quick`` swaps
in a tiny convolutional embedder and runs once without a warm-up (the smoke test).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import throughput as tp
from evaluation.encoders import FrameEncoder, load_encoder
from evaluation.metrics.aesthetic_quality import (
    DEFAULT_ENCODER,
    aesthetic_quality,
    load_aesthetic_head,
)
from evaluation.preprocessing import VBENCH_CLIP

VIDEOS = 2
FRAMES = 2
SIZE = 224
LARGE = (320, 512)
BATCH_SIZE = 4
ROUNDS = 3
TARGET = 0.9


class TinyEmbed(nn.Module):
    """``(N, 3, 224, 224) -> (N, 768)``: a strided convolution and a projection (smoke test)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 32, stride=32)
        self.proj = nn.Linear(16, 768)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.proj(self.conv(frames).mean(dim=(2, 3)))

    def encode_image(self, frames: torch.Tensor) -> torch.Tensor:
        return self(frames)


def main(argv: Sequence[str] | None = None) -> list[dict[str, object]]:
    cli = tp.parser(__doc__)
    cli.add_argument("--quick", action="store_true", help="tiny embedder, one round")
    args = cli.parse_args(argv)
    torch.set_num_threads(args.threads)
    videos, frames_per_video, rounds, warmup = VIDEOS, FRAMES, ROUNDS, True
    if args.quick:
        videos, frames_per_video, rounds, warmup = 1, 2, 1, False
        torch.manual_seed(0)
        tiny = TinyEmbed().eval()
        encoder: FrameEncoder | None = FrameEncoder("tiny", tiny, model="TinyEmbed")
        clip, label = tiny, "tiny convolutional embedder (smoke test)"
    else:
        encoder = None  # the registered clip_vitl14, random weights (cached per process)
        clip = load_encoder(DEFAULT_ENCODER, weights="random").module.model
        label = "open_clip ViT-L-14-quickgelu random weights"
    weights = None if encoder is not None else "random"

    gen = torch.Generator().manual_seed(0)
    shape = (videos, frames_per_video, 3)
    small = torch.randint(0, 256, (*shape, SIZE, SIZE), generator=gen, dtype=torch.uint8)
    large = torch.randint(0, 256, (*shape, *LARGE), generator=gen, dtype=torch.uint8)
    frames = VBENCH_CLIP(small.flatten(0, 1).float() / 255)  # what the bare forward sees
    n = videos * frames_per_video

    def run_metric(clips: torch.Tensor) -> torch.Tensor:
        return aesthetic_quality(
            clips, encoder, weights=weights, head_weights="random", batch_size=BATCH_SIZE
        )

    def bare() -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([clip.encode_image(chunk) for chunk in frames.split(BATCH_SIZE)])

    # same weights, same frames: the per-video scores agree
    head, _ = load_aesthetic_head("random")
    with torch.inference_mode():
        per_frame = head(F.normalize(bare().float(), dim=-1)).reshape(videos, -1) / 10
    diff = (run_metric(small) - per_frame.mean(dim=1)).abs().max().item()

    print("evaluation.metrics benchmark: aesthetic_quality vs bare CLIP ViT-L/14 encode_image")
    print(
        f"{tp.environment()} | {label} | "
        f"{videos} videos x {frames_per_video} frames | chunks of {BATCH_SIZE} frames | "
        f"{tp.protocol(rounds, warmup)}"
    )
    load, cpus = tp.print_load()
    print(f"max |metric - bare + head| per-video score difference: {diff:.1e}")
    print()
    rows = [
        tp.compare(
            f"{SIZE}x{SIZE} uint8 input", lambda: run_metric(small), bare, n, rounds, warmup
        ),
        tp.compare(
            f"{LARGE[0]}x{LARGE[1]} uint8 (resize)",
            lambda: run_metric(large),
            bare,
            n,
            rounds,
            warmup,
        ),
    ]
    tp.print_table(rows, "fr/s", case_width=26)
    tp.print_target(float(rows[0]["ratio"]), TARGET, f"{SIZE}x{SIZE}", load, cpus)
    return rows


if __name__ == "__main__":
    main()
