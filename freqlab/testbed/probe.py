"""Does the testbed's UNet use each word of the caption? Its loss with the true caption, with one
factor's word swapped, and with no caption.

``python -m freqlab.testbed.probe [--weights DIR] [--clips 64]`` encodes ``--clips`` training clips,
noises them once per timestep (t = 200, 500, 800; the same noise for every caption variant), and
prints the epsilon-MSE of the UNet given: the true caption; the caption with its direction
flipped (left <-> right, up <-> down); with another colour; and the empty caption. A UNet that
uses a word has a higher loss when the word is wrong; one that ignores it, the same loss.

It then prints how much the UNet's output depends on the order of the frames
(:func:`frame_order_sensitivity`, t = 999, 800, 500, 200): to move an object the caption's way
rather than the way its initial noise suggests, the UNet must know which frame comes first.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch

from freqlab.data.shapes import COLOURS
from freqlab.testbed.data import make_clips
from freqlab.testbed.judge import parse_caption
from freqlab.testbed.judge_eval import pipeline_from
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


@torch.no_grad()
def caption_losses(
    pipe: Any, num_clips: int = 64, timesteps: tuple[int, ...] = (200, 500, 800), seed: int = 7
) -> dict[int, dict[str, float]]:
    """``{t: {"true" | "direction swapped" | "colour swapped" | "empty": epsilon-MSE}}``."""
    clips, captions = make_clips(num_clips, seed=seed, split="train")
    latents = encode_clips(pipe.vae.eval(), clips) * pipe.vae.config.scaling_factor
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
        out[t] = {
            name: (pipe.unet(noisy, ts, encoder_hidden_states=s).sample - noise)
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
    """``{t: ||f(x) - R f(R x)|| / ||f(x)||}``, f the UNet's epsilon prediction on noised training
    clips (B, 4, T, h, w) with their captions, R the reversal of the frames.

    0 for a UNet blind to frame order (one whose motion modules ignore their position encoding),
    whatever its input; larger the more the order of the frames changes what it predicts.
    """
    clips, captions = make_clips(num_clips, seed=seed, split="train")
    latents = encode_clips(pipe.vae.eval(), clips) * pipe.vae.config.scaling_factor
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a weights/ folder or a step_*.pt")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = pipeline_from(args.weights)
    for t, row in caption_losses(pipe, args.clips).items():
        print(json.dumps({"t": t} | {k: round(v, 5) for k, v in row.items()}))
    order = frame_order_sensitivity(pipe)
    print(json.dumps({"frame_order_sensitivity": {t: round(v, 5) for t, v in order.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
