"""FVD's per-video part (I3D features) vs a bare forward of the same I3D (CPU, random weights).

Run with ``python -m benchmarks.metric_fvd``. In one process, with one torch thread, on
``VIDEOS`` uint8 videos of ``FRAMES`` frames at 224 x 224 it times:

* ``evaluation.metrics.fvd.i3d_features(videos, weights="random")``: input checks, the first 16
  frames, uint8 -> float, cd-fvd's preprocessing (no resize at 224; ``2x/255 - 1``), the cached
  I3D (``evaluation.i3d``) in chunks under ``inference_mode``;
* a bare forward of the same I3D on the same clips, already preprocessed to ``(B, 3, T, 224, 224)``
  floats in [-1, 1], in chunks of the same size under ``inference_mode``.

After a warm-up of each, the two alternate ``ROUNDS`` times so that load drifts hit both alike.
Throughput is clips per second of the median process CPU time (with one thread it measures the
work done even when other processes share the cores); wall time is shown beside it.
Target: metric throughput >= 0.9 x the bare forward.

A second, informative row feeds the metric 512 x 512 videos (it resizes them to 224) while the bare
forward gets the clips already at 224: it shows what the resize costs. The Fréchet distance itself
(one 400 x 400 eigendecomposition per value, not per video) is timed on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from benchmarks import throughput as tp
from evaluation.i3d import load_i3d
from evaluation.metrics.fvd import fvd, i3d_features, preprocess_i3d

VIDEOS = 2
FRAMES = 16
BATCH_SIZE = 2
ROUNDS = 3
TARGET = 0.9


def main(argv: Sequence[str] | None = None) -> list[dict[str, object]]:
    cli = tp.parser(__doc__)
    cli.add_argument("--videos", type=int, default=VIDEOS)
    cli.add_argument("--frames", type=int, default=FRAMES, help="frames per clip (>= 9)")
    cli.add_argument("--rounds", type=int, default=ROUNDS)
    cli.add_argument("--no-warmup", action="store_true")
    cli.add_argument("--skip-resize", action="store_true", help="omit the 512x512 row")
    args = cli.parse_args(argv)
    torch.set_num_threads(args.threads)

    model = load_i3d("random")  # the network the metric uses (cached per process)
    gen = torch.Generator().manual_seed(0)
    shape = (args.videos, args.frames, 3)
    small = torch.randint(0, 256, (*shape, 224, 224), generator=gen, dtype=torch.uint8)
    clips = preprocess_i3d(small)  # what the bare forward sees

    def bare() -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([model(chunk) for chunk in clips.split(BATCH_SIZE)])

    def metric_on(videos: torch.Tensor) -> Callable[[], torch.Tensor]:
        return lambda: i3d_features(
            videos, weights="random", num_frames=args.frames, batch_size=BATCH_SIZE
        )

    # same network, same clips: the features agree
    diff = (metric_on(small)() - bare()).abs().max().item()

    print("evaluation.metrics benchmark: FVD's i3d_features vs a bare I3D forward")
    print(
        f"{tp.environment()} | "
        f"I3D Kinetics-400 random weights | {args.videos} videos x {args.frames} frames | "
        f"chunks of {BATCH_SIZE} clips | {tp.protocol(args.rounds, not args.no_warmup)}"
    )
    load, cpus = tp.print_load()
    print(f"max |metric - bare| feature difference: {diff:.1e}")
    print()
    warm = not args.no_warmup
    rows = [
        tp.compare(
            "224x224 uint8 input", metric_on(small), bare, args.videos, args.rounds, warm, "cps"
        )
    ]
    if not args.skip_resize:
        large = torch.randint(0, 256, (*shape, 512, 512), generator=gen, dtype=torch.uint8)
        rows.append(
            tp.compare(
                "512x512 uint8 input (resize)",
                metric_on(large),
                bare,
                args.videos,
                args.rounds,
                warm,
                "cps",
            )
        )
    tp.print_table(rows, "clip/s", unit="cps")
    features = torch.randn(2048, 400, generator=gen, dtype=torch.float64)
    wall, cpu = tp.timed(lambda: fvd(features, features + 0.1))
    print(f"Fréchet distance of 2,048 vs 2,048 400-d features: {wall:.3f} s wall, {cpu:.3f} s CPU")
    tp.print_target(float(rows[0]["ratio"]), TARGET, "224x224", load, cpus)
    return rows


if __name__ == "__main__":
    main()
