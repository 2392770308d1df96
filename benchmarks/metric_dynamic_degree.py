"""Dynamic degree throughput vs a bare RAFT-Large forward on the same frame pairs (CPU, random
weights).

Run with ``python -m benchmarks.metric_dynamic_degree``. In one process, with one torch thread,
on ``VIDEOS x FRAMES`` uint8 frames of 320 x 512 (VBench's sampled-video resolution; fps 8, so
every frame is kept) it times:

* ``evaluation.metrics.dynamic_degree.dynamic_degree(videos, 8, "raft_large_v1",
  weights="random")``: input checks, sub-sampling, uint8 -> float, centred padding, RAFT-Large
  with 20 updates on chunks of ``BATCH_SIZE`` pairs under ``inference_mode``, the top-5 % score
  and the decision;
* a bare forward of the same RAFT (same weights) on the same pairs, already converted to padded
  [-1, 1] frames, in chunks of the same size, 20 updates, under ``inference_mode``.

After a warm-up of each, the two alternate ``ROUNDS`` times so that load drifts hit both alike.
Throughput is frame pairs per second of the median process CPU time (with one thread it measures
the work done even when other processes share the cores); wall time is shown beside it.
Target: metric throughput >= 0.9 x the bare forward. ``--quick`` runs one 128 x 128 pair with 2
updates once, without a warm-up (the smoke test).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from benchmarks import throughput as tp
from evaluation.metrics.dynamic_degree import (
    DEFAULT_FLOW_MODEL,
    NUM_FLOW_UPDATES,
    dynamic_degree,
    dynamic_pair_scores,
    pad_to_multiple_of_8,
    top_flow_magnitude,
)
from evaluation.optical_flow import load_raft

VIDEOS = 2
FRAMES = 3
HEIGHT, WIDTH = 320, 512
FPS = 8
BATCH_SIZE = 4
ROUNDS = 3
TARGET = 0.9


def main(argv: Sequence[str] | None = None) -> list[dict[str, object]]:
    cli = tp.parser(__doc__)
    cli.add_argument("--quick", action="store_true", help="one tiny pair, one round")
    args = cli.parse_args(argv)
    torch.set_num_threads(args.threads)
    videos, frames_per_video, rounds, warmup = VIDEOS, FRAMES, ROUNDS, True
    height, width, updates = HEIGHT, WIDTH, NUM_FLOW_UPDATES
    if args.quick:
        videos, frames_per_video, rounds, warmup = 1, 2, 1, False
        height, width, updates = 128, 128, 2

    model = load_raft(DEFAULT_FLOW_MODEL, "random")  # what the metric uses (cached)
    gen = torch.Generator().manual_seed(0)
    shape = (videos, frames_per_video, 3, height, width)
    clips = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
    # what the bare forward sees: consecutive pairs, padded, in [-1, 1]
    prepared = pad_to_multiple_of_8(clips.flatten(0, 1).float() / 255).unflatten(0, shape[:2])
    prepared = prepared * 2 - 1
    first = prepared[:, :-1].flatten(0, 1)
    second = prepared[:, 1:].flatten(0, 1)
    pairs = len(first)

    def metric() -> torch.Tensor:
        return dynamic_degree(
            clips,
            FPS,
            DEFAULT_FLOW_MODEL,
            weights="random",
            batch_size=BATCH_SIZE,
            num_flow_updates=updates,
        )

    def bare() -> list[torch.Tensor]:
        with torch.inference_mode():
            return [
                model(a, b, num_flow_updates=updates)[-1]
                for a, b in zip(first.split(BATCH_SIZE), second.split(BATCH_SIZE), strict=True)
            ]

    # same weights, same pairs: the top-5 % scores agree
    bare_scores = torch.cat([top_flow_magnitude(flow) for flow in bare()])
    metric_scores = dynamic_pair_scores(
        clips, FPS, weights="random", batch_size=BATCH_SIZE, num_flow_updates=updates
    ).flatten()
    diff = (metric_scores - bare_scores).abs().max().item()

    print(
        f"evaluation.metrics benchmark: dynamic_degree vs bare RAFT forward ({DEFAULT_FLOW_MODEL})"
    )
    print(
        f"{tp.environment()} | random weights | "
        f"{videos} videos x {frames_per_video} frames of {height} x {width} at {FPS} fps "
        f"({pairs} pairs) | {updates} updates | chunks of {BATCH_SIZE} pairs | "
        f"{tp.protocol(rounds, warmup)}"
    )
    load, cpus = tp.print_load()
    print(f"max |metric - bare| top-5% flow score difference: {diff:.1e}")
    print()
    rows = [tp.compare(f"{height}x{width} uint8 input", metric, bare, pairs, rounds, warmup)]
    tp.print_table(rows, "pairs/s", case_width=22)
    tp.print_target(float(rows[0]["ratio"]), TARGET, f"{height}x{width}", load, cpus)
    return rows


if __name__ == "__main__":
    main()
