"""Imaging quality (MUSIQ-SPAQ) throughput vs a bare MUSIQ forward on the same frames (CPU, random
weights).

Run with ``python -m benchmarks.metric_imaging_quality``. In one process, with one torch thread,
on ``VIDEOS x FRAMES`` uint8 frames of 320 x 512 (VBench's sampled-video resolution) it times:

* ``evaluation.metrics.imaging_quality.imaging_quality(videos, weights="random")``: input checks,
  uint8 -> float, VBench's ``longer`` resize rule (a no-op at 512), MUSIQ in chunks of
  ``BATCH_SIZE`` frames under ``inference_mode``, the per-video mean;
* a bare forward of the same :class:`evaluation.musiq.MUSIQ` (same weights) on the same frames,
  already converted to float in [0, 1], in chunks of the same size under ``inference_mode``.

After a warm-up of each, the two alternate ``ROUNDS`` times so that load drifts hit both alike.
Throughput is frames per second of the median process CPU time (with one thread it measures the
work done even when other processes share the cores); wall time is shown beside it.
Target: metric throughput >= 0.9 x the bare forward.

A second, informative row feeds the metric 640 x 1024 frames (it resizes them to 320 x 512 by
VBench's rule) while the bare forward gets 320 x 512 frames: it shows what the resize costs.
``--quick`` runs tiny frames once, without a warm-up (the smoke test).
"""

from __future__ import annotations

import platform
from collections.abc import Sequence

import torch

from benchmarks import throughput as tp
from evaluation.metrics.imaging_quality import imaging_quality
from evaluation.musiq import load_musiq

VIDEOS = 2
FRAMES = 4
HEIGHT, WIDTH = 320, 512
BATCH_SIZE = 4
ROUNDS = 3
TARGET = 0.9


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: Sequence[str] | None = None) -> list[dict[str, object]]:
    cli = tp.parser(__doc__)
    cli.add_argument("--quick", action="store_true", help="tiny frames, one round, no warm-up")
    args = cli.parse_args(argv)
    torch.set_num_threads(args.threads)
    videos, frames_per_video, rounds, warmup = VIDEOS, FRAMES, ROUNDS, True
    height, width = HEIGHT, WIDTH
    if args.quick:
        videos, frames_per_video, rounds, warmup = 1, 2, 1, False
        height, width = 24, 40

    model = load_musiq("random")  # what the metric uses (cached per weights and device)
    gen = torch.Generator().manual_seed(0)
    shape = (videos, frames_per_video, 3)
    small = torch.randint(0, 256, (*shape, height, width), generator=gen, dtype=torch.uint8)
    large = torch.randint(0, 256, (*shape, 2 * height, 2 * width), generator=gen, dtype=torch.uint8)
    frames = small.flatten(0, 1).float() / 255  # what the bare forward sees
    n = videos * frames_per_video

    def metric_small() -> torch.Tensor:
        return imaging_quality(small, weights="random", batch_size=BATCH_SIZE)

    def metric_large() -> torch.Tensor:
        return imaging_quality(large, weights="random", batch_size=BATCH_SIZE)

    # same weights, same frames: the per-video scores agree
    bare_scores = (
        tp.chunked_forward(model, frames, BATCH_SIZE)()
        .reshape(videos, frames_per_video)
        .mean(dim=1)
    )
    diff = (metric_small() - bare_scores).abs().max().item()

    print("evaluation.metrics benchmark: imaging_quality vs bare MUSIQ forward")
    print(
        f"{tp.environment()} | "
        f"{cpu_name()} | MUSIQ random weights | {videos} videos x "
        f"{frames_per_video} frames of {height} x {width} | chunks of {BATCH_SIZE} frames | "
        f"{tp.protocol(rounds, warmup)}"
    )
    load, cpus = tp.print_load()
    print(f"max |metric - bare| per-video score difference: {diff:.1e}")
    print()
    bare = tp.chunked_forward(model, frames, BATCH_SIZE)
    rows = [
        tp.compare(f"{height}x{width} uint8 input", metric_small, bare, n, rounds, warmup, "fps"),
        tp.compare(
            f"{2 * height}x{2 * width} uint8 (resize)", metric_large, bare, n, rounds, warmup, "fps"
        ),
    ]
    tp.print_table(rows, "fr/s", unit="fps")
    tp.print_target(float(rows[0]["ratio"]), TARGET, f"{height}x{width}", load, cpus)
    return rows


if __name__ == "__main__":
    main()
