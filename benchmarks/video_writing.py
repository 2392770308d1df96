"""Seconds per video file: freqlab.video.write.save_video vs imageio.v3.imwrite (its PyAV plugin).

Run: ``.venv/bin/python -m benchmarks.video_writing [--model testbed] [--files 20]``. The process
first loads a model, as a generation job has, because the cost that matters grows with the Python
heap: imageio's PyAV plugin runs a full ``gc.collect()`` on every ``close()``. Videos are one
sample of the model; each writer writes the same MP4 and GIF clips, interleaved so that
both see the same heap.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

import torch

from freqlab.video.write import save_video, to_uint8_frames


def _imageio_write(video: torch.Tensor, path: Path, fps: int) -> None:
    """What freqlab did before (imageio.v3, PyAV plugin for MP4, Pillow for GIF)."""
    import imageio.v3 as iio

    frames = to_uint8_frames(video)
    if path.suffix == ".gif":
        iio.imwrite(path, frames, duration=1000 / fps, loop=0)
    else:
        iio.imwrite(path, frames, fps=fps, plugin="pyav", codec="libx264")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed", help="freqlab model name (sets the heap)")
    parser.add_argument("--files", type=int, default=20, help="files per writer and format")
    parser.add_argument("--prompt", default="a red circle moving left on a gray background")
    args = parser.parse_args()

    from freqlab.models import get_model_spec, load_model

    start = time.perf_counter()
    pipe = load_model(args.model)  # noqa: F841  (kept alive: it is the heap being measured)
    spec = get_model_spec(args.model).defaults
    t, h, w = spec["num_frames"], spec["height"], spec["width"]
    print(f"model {args.model} loaded in {time.perf_counter() - start:.1f} s")
    print(f"gc-tracked objects: {len(gc.get_objects())}")
    start = time.perf_counter()
    gc.collect()
    print(f"one full gc.collect(): {time.perf_counter() - start:.3f} s")

    # A real sample (decoded frames have many distinct colours: GIF palettes cost what they cost).
    out = pipe(
        prompt=args.prompt,
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
        **{k: v for k, v in spec.items() if k != "negative_prompt"},
    )
    video = out.frames[0]
    assert video.shape == (t, 3, h, w), video.shape
    writers = {"imageio": _imageio_write, "freqlab": lambda v, p, fps: save_video(v, p, fps)}
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.files):
            for suffix in (".mp4", ".gif"):
                for name, write in writers.items():
                    path = Path(tmp) / f"{name}_{i}{suffix}"
                    start = time.perf_counter()
                    write(video, path, 8)
                    times.setdefault((name, suffix), []).append(time.perf_counter() - start)
    print(f"video {t}x3x{h}x{w}, {args.files} files each; seconds per file (median, max):")
    for (name, suffix), values in sorted(times.items()):
        print(f"  {name:<8}{suffix:<5}{statistics.median(values):8.4f}{max(values):8.4f}")


if __name__ == "__main__":
    main()
