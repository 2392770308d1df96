"""Score a testbed pipeline with the judge: plain samples of captions, read by the judge.

``python -m freqlab.testbed.judge_eval [--weights DIR] [--split heldout] [--seeds 2]`` samples
every caption of a split (25 DDIM steps, CFG 7.5, plain sampling: FreeInit's pass 0) with the
shipped testbed or with the weights in ``DIR`` (a training run's ``weights/`` folder, or a
checkpoint ``step_*.pt`` of a run whose stage-1 files sit beside it), and prints per attribute
the fraction the judge reads as the caption says, ``all4``, colour and direction together,
whether an object is seen at all, and the motion of the samples against real clips'. It also
tracks the caption's object (:func:`trajectories`): how fast and how straight it moves, and
whether the way the caption says, with no network in between.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from freqlab.atomic import atomic_path
from freqlab.data.shapes import COLOURS, DIRECTIONS
from freqlab.testbed.data import make_clips, split_captions
from freqlab.testbed.judge import ATTRIBUTES, NONE, load_judge, parse_caption, read_videos


def pipeline_from(weights: str | Path | None) -> Any:
    """The shipped testbed (``None``), a ``weights/`` folder, or a UNet checkpoint
    ``step_*.pt`` (with ``decoder.safetensors`` or ``vae.safetensors`` beside it)."""
    from safetensors.torch import load_file

    from freqlab.testbed.model import (
        assemble_pipeline,
        build_components,
        prediction_type,
        testbed_pipeline,
    )

    if weights is None:
        return testbed_pipeline()
    path = Path(weights)
    if path.is_dir():
        meta = json.loads((path / "testbed.json").read_text())
        components = build_components(0, prediction_type(meta))
        for name in ("vae", "text_encoder", "unet"):
            components[name].load_state_dict(load_file(str(path / f"{name}.safetensors")))
        scale = meta["vae_scaling_factor"]
    else:
        state = torch.load(path, weights_only=True)
        components = build_components(0, state.get("prediction_type", "epsilon"))
        weights = state.get("ema") or state  # the averaged weights, when the run keeps them
        components["unet"].load_state_dict(weights["unet"])
        components["text_encoder"].load_state_dict(weights["text_encoder"])
        vae_file = path.parent / "decoder.safetensors"
        if not vae_file.exists():
            vae_file = path.parent / "vae.safetensors"
        components["vae"].load_state_dict(load_file(str(vae_file)))
        scale = json.loads((path.parent / "latents.json").read_text())["vae_scaling_factor"]
    components["vae"].register_to_config(scaling_factor=scale)
    return assemble_pipeline(components)


@torch.no_grad()
def sample(pipe: Any, captions: list[str], seeds: list[int], batch: int = 8) -> torch.Tensor:
    """Plain samples (FreeInit pass 0) of every caption x seed: (N, 8, 3, 32, 32) in [0, 1]."""
    from freqlab.freeinit import FreeInit

    jobs = [(c, s) for s in seeds for c in captions]
    videos = []
    for i in range(0, len(jobs), batch):
        chunk = jobs[i : i + batch]
        result = FreeInit(num_iters=1)(
            pipe,
            prompt=[c for c, _ in chunk],
            generator=[torch.Generator().manual_seed(s) for _, s in chunk],
            num_frames=8,
            height=32,
            width=32,
            num_inference_steps=25,
            guidance_scale=7.5,
            decode="all",
        )
        videos.append(result.videos[0].float().cpu())
    return torch.cat(videos)


def score(videos: torch.Tensor, captions: list[str]) -> dict[str, float]:
    """Judge scores of videos (N, 8, 3, 32, 32) against their N captions."""
    judge = load_judge()
    reading = read_videos(judge, videos)
    right = {
        name: torch.tensor(
            [
                w == parse_caption(c)[name]
                for w, c in zip(reading.names(name), captions, strict=True)
            ]
        ).float()
        for name in ATTRIBUTES
    }
    out = {name: v.mean().item() for name, v in right.items()}
    out["all4"] = torch.stack(list(right.values())).prod(0).mean().item()
    out["colour+direction"] = (right["colour"] * right["direction"]).mean().item()
    out["object_seen"] = sum(w != NONE for w in reading.names("shape")) / len(captions)
    out["motion"] = (videos[:, 1:] - videos[:, :-1]).abs().mean().item()
    return out


def object_path(video: torch.Tensor, colour: str, tol: float = 0.35) -> torch.Tensor | None:
    """The path (T, 2) as (x, y) pixels of an object of the named ``colour`` in ``video``
    (T, 3, H, W) in [0, 1]: per frame, the centroid of the pixels within ``tol`` (L1 over RGB) of
    the colour; None when a frame has fewer than 3 such pixels."""
    _, _, h, w = video.shape
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    rgb = torch.tensor(COLOURS[colour]).view(1, 3, 1, 1)
    mask = ((video.float() - rgb).abs().sum(1) < tol).float()  # (T, H, W)
    mass = mask.sum((1, 2))
    if (mass < 3).any():
        return None
    return torch.stack([(mask * xs).sum((1, 2)), (mask * ys).sum((1, 2))], 1) / mass[:, None]


def trajectories(videos: torch.Tensor, captions: list[str], tol: float = 0.35) -> dict[str, float]:
    """Track the caption's object (:func:`object_path`) in videos (N, T, 3, H, W) in [0, 1].

    Returns the fraction ``tracked`` (at least 3 pixels of the caption's colour in every frame),
    and over the tracked videos: mean ``speed`` (pixels per frame), ``straightness`` (net
    displacement / path length, 1 for a straight path) and ``captions_way`` (the net
    displacement within 60 degrees of the caption's direction). Real clips give 1.0, 1.0 and
    speeds of 1.2-2.0.
    """
    speeds, straight, way = [], [], []
    for video, text in zip(videos, captions, strict=True):
        parsed = parse_caption(text)
        path = object_path(video, parsed["colour"], tol)
        if path is None:
            continue
        steps = (path[1:] - path[:-1]).norm(dim=1)
        net = path[-1] - path[0]
        speeds.append(steps.mean().item())
        straight.append((net.norm() / steps.sum().clamp(min=1e-6)).item())
        way.append(float(net @ torch.tensor(DIRECTIONS[parsed["direction"]]) > 0.5 * net.norm()))
    mean = lambda v: sum(v) / len(v) if v else float("nan")  # noqa: E731
    return dict(
        tracked=len(speeds) / len(videos),
        speed=mean(speeds),
        straightness=mean(straight),
        captions_way=mean(way),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--split", default="heldout", choices=("heldout", "train"))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="first N captions only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", default=None, help="save the videos (.pt) here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    captions = split_captions(args.split)[: args.limit]
    videos = sample(pipeline_from(args.weights), captions, list(range(args.seeds)))
    if args.save:
        with atomic_path(args.save) as tmp:
            torch.save(videos, tmp)
    result = score(videos, captions * args.seeds)
    result |= {f"track_{k}": v for k, v in trajectories(videos, captions * args.seeds).items()}
    real, real_captions = make_clips(256, seed=1_000_002, split=args.split)
    result["motion_real"] = float(abs(real[:, 1:] - real[:, :-1]).mean())
    result["track_speed_real"] = trajectories(torch.from_numpy(real), real_captions)["speed"]
    result["n"] = len(videos)
    print(json.dumps({k: round(v, 4) for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
