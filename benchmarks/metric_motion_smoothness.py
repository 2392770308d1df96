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
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from evaluation.amt import AMTS, load_amt
from evaluation.metrics.motion_smoothness import motion_smoothness

VIDEOS = 1
FRAMES = 5  # 2 interpolated frames per video
SIZE = (512, 512)  # AnimateDiff's native frames (VBench scores videos at their own resolution)
BATCH_SIZE = 2
ROUNDS = 3
TARGET = 0.9


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def even_pairs(videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The metric's interpolator inputs: frames ``2k`` and ``2k + 2`` of every video as float32
    ``(N, 3, H, W)`` in [0, 1] (the sizes here need no padding)."""
    t = videos.shape[1]
    first = videos[:, 0 : t - 2 : 2].flatten(0, 1)
    second = videos[:, 2:t:2].flatten(0, 1)
    return first.float() / 255.0, second.float() / 255.0


def compare(
    metric: Callable[[], object], bare: Callable[[], object], frames: int, rounds: int, warmup: bool
) -> dict[str, float]:
    if warmup:
        metric()
        bare()
    runs: dict[str, list[tuple[float, float]]] = {"metric": [], "bare": []}
    for _ in range(rounds):
        runs["metric"].append(timed(metric))
        runs["bare"].append(timed(bare))
    wall = {k: statistics.median(t[0] for t in v) for k, v in runs.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in runs.items()}
    return {
        "metric_fps": frames / cpu["metric"],
        "bare_fps": frames / cpu["bare"],
        "ratio": cpu["bare"] / cpu["metric"],
        "metric_wall_fps": frames / wall["metric"],
        "bare_wall_fps": frames / wall["bare"],
        "wall_ratio": wall["bare"] / wall["metric"],
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--videos", type=int, default=VIDEOS)
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--size", type=int, nargs=2, default=SIZE, metavar=("H", "W"))
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-warmup", action="store_true")
    args = parser.parse_args(argv)
    height, width = args.size
    if height % 16 or width % 16 or args.frames < 3:
        parser.error("--size must be multiples of 16 (no padding) and --frames at least 3")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args, height, width)
    finally:
        torch.set_num_threads(threads)  # a caller's setting (the smoke test's process) survives


def _run(args: argparse.Namespace, height: int, width: int) -> dict[str, float]:
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
        f"torch {torch.__version__} | threads {torch.get_num_threads()} | "
        f"python {platform.python_version()} | {platform.machine()} | AMT-S random weights | "
        f"{args.videos} videos x {args.frames} frames at {height}x{width} = {n} interpolated "
        f"frames | chunks of {args.batch_size} pairs | median of {args.rounds} alternating runs"
        f"{'' if args.no_warmup else ' after a warm-up'}"
    )
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    print(f"load average (1 min) {load:.2f} on {cpus} CPUs at start")
    print(f"max |metric model - bare model| prediction difference: {diff:.1e}")
    print()
    row = compare(metric, bare, n, args.rounds, not args.no_warmup)
    header = (
        f"{'case':<24} {'metric (fr/s)':>13} {'bare (fr/s)':>12} {'ratio':>6} "
        f"{'wall: metric':>13} {'bare':>6} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{f'{height}x{width} uint8 input':<24} {row['metric_fps']:>13.3f} "
        f"{row['bare_fps']:>12.3f} {row['ratio']:>6.3f} {row['metric_wall_fps']:>13.3f} "
        f"{row['bare_wall_fps']:>6.3f} {row['wall_ratio']:>6.3f}"
    )
    print()
    ratio = row["ratio"]
    print(
        f"target metric/bare throughput >= {TARGET} (CPU time): "
        f"{'MET' if ratio >= TARGET else 'NOT MET'} ({ratio:.3f})"
    )
    load = max(load, os.getloadavg()[0])
    if load > cpus - 1:
        print(
            f"note: load average reached {load:.2f} on {cpus} CPUs: other processes share the "
            f"cores, wall times are inflated (CPU times less so)"
        )
    return {**row, "diff": diff, "frames": n}


if __name__ == "__main__":
    main()
