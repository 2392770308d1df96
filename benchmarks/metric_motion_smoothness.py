"""Motion smoothness throughput vs a bare AMT-S forward on the same frame pairs (CPU, random
weights).

Run with ``python -m benchmarks.metric_motion_smoothness``. In one process, with one torch
thread by default, on ``VIDEOS`` uint8 videos of ``FRAMES`` frames at ``SIZE`` it times:

* ``evaluation.metrics.motion_smoothness(videos, weights="random")``: AMT-S (``load_amt``,
  random weights) under ``inference_mode`` with everything VBench's protocol adds: uint8 ->
  float, padding to multiples of 16, unpadding, truncation to uint8 and the error against the
  odd frames;
* a bare forward of a separately built :class:`evaluation.amt.AMTS` holding the same weights on
  the same even-frame pairs, already as float32 in [0, 1], in chunks of the same size.

After a warm-up of each, the two alternate ``--rounds`` times so that load drifts hit both
alike. Throughput is interpolated frames per second of the median process CPU time (with one
thread it counts the work done even when other processes share the cores); wall time is shown
beside it. Target: metric throughput >= 0.9 x the bare forward.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch

from benchmarks import throughput as tp
from evaluation.amt import AMTS, load_amt
from evaluation.metrics.motion_smoothness import motion_smoothness

VIDEOS = 1
FRAMES = 5  # 2 interpolated frames per video
SIZE = (512, 512)  # AnimateDiff's native frames (VBench scores videos at their own resolution)
BATCH_SIZE = 2
ROUNDS = 3
TARGET = 0.9


def even_pairs(videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The metric's interpolator inputs: frames ``2k`` and ``2k + 2`` of every video as float32
    ``(N, 3, H, W)`` in [0, 1] (the sizes here need no padding)."""
    t = videos.shape[1]
    first = videos[:, 0 : t - 2 : 2].flatten(0, 1)
    second = videos[:, 2:t:2].flatten(0, 1)
    return first.float() / 255.0, second.float() / 255.0


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    cli = tp.parser(__doc__)
    cli.add_argument("--videos", type=int, default=VIDEOS)
    cli.add_argument("--frames", type=int, default=FRAMES)
    cli.add_argument("--size", type=int, nargs=2, default=SIZE, metavar=("H", "W"))
    cli.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    cli.add_argument("--rounds", type=int, default=ROUNDS)
    cli.add_argument("--no-warmup", action="store_true")
    args = cli.parse_args(argv)
    height, width = args.size
    if height % 16 or width % 16 or args.frames < 3:
        cli.error("--size must be multiples of 16 (no padding) and --frames at least 3")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args, height, width)
    finally:
        torch.set_num_threads(threads)  # a caller's setting (the smoke test's process) survives


def _run(args: argparse.Namespace, height: int, width: int) -> dict[str, object]:
    amt = load_amt("random")  # what the metric uses
    model = AMTS().eval().requires_grad_(False)
    model.load_state_dict(amt.state_dict())

    gen = torch.Generator().manual_seed(0)
    shape = (args.videos, args.frames, 3, height, width)
    videos = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
    first, second = even_pairs(videos)
    n = len(first)  # interpolated frames per call

    def metric() -> torch.Tensor:
        return motion_smoothness(videos, weights="random", batch_size=args.batch_size)

    def bare() -> torch.Tensor:
        with torch.inference_mode():
            chunks = zip(first.split(args.batch_size), second.split(args.batch_size), strict=True)
            return torch.cat([model(a, b, 0.5) for a, b in chunks])

    # same weights, same frames: the predictions agree
    with torch.inference_mode():
        diff = (amt(first[:1], second[:1]) - model(first[:1], second[:1])).abs().max().item()

    print("evaluation.metrics benchmark: motion_smoothness vs bare AMT-S forward")
    print(
        f"{tp.environment()} | AMT-S random weights | "
        f"{args.videos} videos x {args.frames} frames at {height}x{width} = {n} interpolated "
        f"frames | chunks of {args.batch_size} pairs | "
        f"{tp.protocol(args.rounds, not args.no_warmup)}"
    )
    load, cpus = tp.print_load()
    print(f"max |metric model - bare model| prediction difference: {diff:.1e}")
    print()
    name = f"{height}x{width} uint8 input"
    row = tp.compare(name, metric, bare, n, args.rounds, not args.no_warmup, "fps")
    tp.print_table([row], "fr/s", unit="fps", case_width=24)
    tp.print_target(float(row["ratio"]), TARGET, None, load, cpus)
    return {**row, "diff": diff, "frames": n}


if __name__ == "__main__":
    main()
