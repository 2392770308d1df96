"""DINO consistency throughput vs a bare timm forward on the same frames (CPU, random weights).

Run with ``python -m benchmarks.encoder_throughput``. In one process, with one torch thread, on
``VIDEOS x FRAMES`` uint8 frames of 224 x 224 it times:

* ``evaluation.metrics.dino_consistency(videos, weights="random")``: the registered ViT-S/16
  (``vit_small_patch16_224.dino`` with random weights), chunked, under ``inference_mode``, with
  uint8 -> float conversion, preprocessing, feature normalisation and the similarity;
* a bare forward of a plain ``timm.create_model("vit_small_patch16_224.dino", pretrained=False,
  num_classes=0)`` with the same weights on the same frames, already converted to normalised
  float, in chunks of the same size under ``inference_mode``.

After a warm-up of each, the two alternate ``ROUNDS`` times so that load drifts hit both alike.
Throughput is frames per second of the median process CPU time (with one thread it measures the
work done even when other processes share the cores); wall time is shown beside it.
Target: metric throughput >= 0.9 x the bare forward.

A second, informative row feeds the metric 512 x 512 frames (it resizes and crops them) while
the bare forward gets the frames already at 224: it shows what the preprocessing costs.
"""

from __future__ import annotations

import torch

from benchmarks import throughput as tp
from evaluation.encoders import load_encoder
from evaluation.metrics import dino_consistency
from evaluation.preprocessing import FREEINIT_DINO

VIDEOS = 2
FRAMES = 16
BATCH_SIZE = 16
ROUNDS = 3
TARGET = 0.9


def main() -> None:
    args = tp.parser(__doc__).parse_args()
    torch.set_num_threads(args.threads)
    import timm

    encoder = load_encoder("dino_vits16", weights="random")  # what the metric uses
    model = timm.create_model("vit_small_patch16_224.dino", pretrained=False, num_classes=0)
    model.load_state_dict(encoder.module.model.state_dict())
    model.eval()

    gen = torch.Generator().manual_seed(0)
    small = torch.randint(0, 256, (VIDEOS, FRAMES, 3, 224, 224), generator=gen, dtype=torch.uint8)
    large = torch.randint(0, 256, (VIDEOS, FRAMES, 3, 512, 512), generator=gen, dtype=torch.uint8)
    frames = FREEINIT_DINO(small.flatten(0, 1).float() / 255)  # what the bare forward sees
    n = VIDEOS * FRAMES

    def metric_small() -> torch.Tensor:
        return dino_consistency(small, weights="random", batch_size=BATCH_SIZE)

    def metric_large() -> torch.Tensor:
        return dino_consistency(large, weights="random", batch_size=BATCH_SIZE)

    # same weights, same frames: the features agree
    with torch.inference_mode():
        diff = (encoder.module(frames[:4]) - model(frames[:4])).abs().max().item()

    print("evaluation.metrics benchmark: dino_consistency vs bare timm forward")
    print(
        f"{tp.environment()} | vit_small_patch16_224.dino random weights | "
        f"{VIDEOS} videos x {FRAMES} frames | chunks of {BATCH_SIZE} frames | "
        f"{tp.protocol(ROUNDS, True)}"
    )
    load, cpus = tp.print_load()
    print(f"max |metric encoder - bare model| feature difference: {diff:.1e}")
    print()
    bare = tp.chunked_forward(model, frames, BATCH_SIZE)
    rows = [
        tp.compare("224x224 uint8 input", metric_small, bare, n, ROUNDS, unit="fps"),
        tp.compare("512x512 uint8 input (resize)", metric_large, bare, n, ROUNDS, unit="fps"),
    ]
    tp.print_table(rows, "fr/s", unit="fps", digits=2)
    tp.print_target(float(rows[0]["ratio"]), TARGET, "224x224", load, cpus)


if __name__ == "__main__":
    main()
