"""Does the testbed's UNet use each word of the caption? Its loss with the true caption, with one
factor's word swapped, and with no caption.

``python -m freqlab.testbed.probe [--weights DIR] [--clips 64]`` encodes ``--clips`` training clips,
noises them once per timestep (t = 200, 500, 800; the same noise for every caption variant), and
prints the UNet's loss (epsilon-MSE, or velocity-MSE for a v-prediction UNet) given: the true caption; the caption with its direction
flipped (left <-> right, up <-> down); with another colour; and the empty caption. A UNet that
uses a word has a higher loss when the word is wrong; one that ignores it, the same loss.

It then prints how much the UNet's output depends on the order of the frames
(:func:`frame_order_sensitivity`, t = 999, 800, 500, 200): to move an object the caption's way
rather than the way its initial noise suggests, the UNet must know which frame comes first.

With ``--noise-bands`` it also measures which band of the initial noise picks the object's path
(:func:`noise_band_swap`, about a minute per cut-off on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import torch

from freqlab.data.shapes import COLOURS
from freqlab.spectral import freq_mix_3d, lowpass_filter
from freqlab.testbed.data import make_clips
from freqlab.testbed.judge import parse_caption
from freqlab.testbed.judge_eval import object_path, pipeline_from
from freqlab.testbed.train import encode_clips, encode_text, tokenize

_OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}
_COLOURS = list(COLOURS)


def swap_word(caption: str, factor: str) -> str:
    """``caption`` with its ``"direction"`` flipped or its ``"colour"`` the next in the list."""
    parsed = parse_caption(caption)
    if factor == "direction":
        old, new = f"moving {parsed['direction']} ", f"moving {_OPPOSITE[parsed['direction']]} "
    elif factor == "colour":
        nxt = _COLOURS[(_COLOURS.index(parsed["colour"]) + 1) % len(_COLOURS)]
        old, new = f"a {parsed['colour']} ", f"a {nxt} "
    else:
        raise ValueError(f"factor must be 'direction' or 'colour', got {factor!r}")
    return caption.replace(old, new, 1)


def _training_latents(pipe: Any, num_clips: int, seed: int) -> tuple[torch.Tensor, list[str]]:
    """``num_clips`` training clips as the UNet sees them: scaled latents (N, 4, T, h, w), and
    their captions."""
    clips, captions = make_clips(num_clips, seed=seed, split="train")
    return encode_clips(pipe.vae.eval(), clips) * pipe.vae.config.scaling_factor, captions


@torch.no_grad()
def caption_losses(
    pipe: Any, num_clips: int = 64, timesteps: tuple[int, ...] = (200, 500, 800), seed: int = 7
) -> dict[int, dict[str, float]]:
    """``{t: {"true" | "direction swapped" | "colour swapped" | "empty": MSE of the UNet's prediction}}`` (epsilon or velocity, as the scheduler says)."""
    latents, captions = _training_latents(pipe, num_clips, seed)
    variants = {
        "true": captions,
        "direction swapped": [swap_word(c, "direction") for c in captions],
        "colour swapped": [swap_word(c, "colour") for c in captions],
        "empty": [""] * len(captions),
    }
    states = {
        name: encode_text(pipe.text_encoder.eval(), tokenize(pipe.tokenizer, texts), 8)
        for name, texts in variants.items()
    }
    g = torch.Generator().manual_seed(0)
    out = {}
    for t in timesteps:
        noise = torch.randn(latents.shape, generator=g)
        ts = torch.full((len(latents),), t)
        noisy = pipe.scheduler.add_noise(latents, noise, ts)
        target = (  # what the UNet predicts
            pipe.scheduler.get_velocity(latents, noise, ts)
            if pipe.scheduler.config.prediction_type == "v_prediction"
            else noise
        )
        out[t] = {
            name: (pipe.unet(noisy, ts, encoder_hidden_states=s).sample - target)
            .pow(2)
            .mean()
            .item()
            for name, s in states.items()
        }
    return out


@torch.no_grad()
def frame_order_sensitivity(
    pipe: Any, timesteps: tuple[int, ...] = (999, 800, 500, 200), num_clips: int = 16, seed: int = 7
) -> dict[int, float]:
    """``{t: ||f(x) - R f(R x)|| / ||f(x)||}``, f the UNet's prediction on noised training
    clips (B, 4, T, h, w) with their captions, R the reversal of the frames.

    0 for a UNet blind to frame order (one whose motion modules ignore their position encoding),
    whatever its input; larger the more the order of the frames changes what it predicts.
    """
    latents, captions = _training_latents(pipe, num_clips, seed)
    states = encode_text(pipe.text_encoder.eval(), tokenize(pipe.tokenizer, captions), 8)
    g = torch.Generator().manual_seed(1)
    out = {}
    for t in timesteps:
        ts = torch.full((len(latents),), t)
        noisy = pipe.scheduler.add_noise(latents, torch.randn(latents.shape, generator=g), ts)
        pred = pipe.unet(noisy, ts, encoder_hidden_states=states).sample
        reversed_pred = pipe.unet(noisy.flip(2), ts, encoder_hidden_states=states).sample.flip(2)
        out[t] = ((pred - reversed_pred).norm() / pred.norm()).item()
    return out


def path_direction(video: torch.Tensor, colour: str) -> str | None:
    """The direction word nearest to the net displacement of the ``colour`` object in ``video``
    (T, 3, H, W) in [0, 1] (:func:`~freqlab.testbed.judge_eval.object_path`); None if untracked."""
    path = object_path(video, colour)
    if path is None:
        return None
    dx, dy = (path[-1] - path[0]).tolist()
    if abs(dx) > abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


@torch.no_grad()
def noise_band_swap(
    pipe: Any,
    caption: str = "a red circle moving right on a black background",
    num_pairs: int = 48,
    d0: float = 0.25,
    steps: int = 25,
    seed: int = 123,
    batch: int = 16,
) -> dict[str, float]:
    """Which band of the initial noise picks the path? For ``num_pairs`` pairs of noises (A, B)
    (B, 4, 8, 8, 8), samples ``caption`` (CFG 7.5) from A, from B and from B's low frequencies
    plus A's high ones (:func:`freqlab.spectral.freq_mix_3d`, FreeInit's gaussian mask at ``d0``)
    and tracks the object's direction (:func:`path_direction`).

    Returns, over the pairs where all three are tracked (``n``): ``a_b_same`` (A and B go the same
    way: the baseline), ``mix_follows_low`` (the mix goes B's way), ``mix_follows_high`` (A's
    way), and ``captions_way_a`` / ``captions_way_mix``.
    """
    said = parse_caption(caption)
    colour, direction = said["colour"], said["direction"]
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(num_pairs, 4, 8, 8, 8, generator=g)
    b = torch.randn(num_pairs, 4, 8, 8, 8, generator=g)
    mix = freq_mix_3d(b, a, lowpass_filter(a.shape[1:], "gaussian", d0, d0))

    def directions(noise: torch.Tensor) -> list[str | None]:
        out: list[str | None] = []
        for i in range(0, len(noise), batch):
            chunk = noise[i : i + batch]
            frames = pipe(
                prompt=[caption] * len(chunk),
                latents=chunk.clone(),
                num_frames=8,
                height=32,
                width=32,
                num_inference_steps=steps,
                guidance_scale=7.5,
                output_type="pt",
            ).frames
            out += [path_direction(v.float(), colour) for v in frames]
        return out

    da, db, dm = directions(a), directions(b), directions(mix)
    kept = [i for i in range(num_pairs) if None not in (da[i], db[i], dm[i])]

    def share(pred: Callable[[int], bool]) -> float:
        return sum(pred(i) for i in kept) / max(len(kept), 1)

    return dict(
        n=float(len(kept)),
        a_b_same=share(lambda i: da[i] == db[i]),
        mix_follows_low=share(lambda i: dm[i] == db[i]),
        mix_follows_high=share(lambda i: dm[i] == da[i]),
        captions_way_a=share(lambda i: da[i] == direction),
        captions_way_mix=share(lambda i: dm[i] == direction),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a weights/ folder or a step_*.pt")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--noise-bands", action="store_true", help="also run noise_band_swap at d0 0.25 and 0.5"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = pipeline_from(args.weights)
    for t, row in caption_losses(pipe, args.clips).items():
        print(json.dumps({"t": t} | {k: round(v, 5) for k, v in row.items()}))
    order = frame_order_sensitivity(pipe)
    print(json.dumps({"frame_order_sensitivity": {t: round(v, 5) for t, v in order.items()}}))
    if args.noise_bands:
        for d0 in (0.25, 0.5):
            swap = noise_band_swap(pipe, d0=d0)
            print(
                json.dumps({"noise_band_swap_d0": d0} | {k: round(v, 3) for k, v in swap.items()})
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
