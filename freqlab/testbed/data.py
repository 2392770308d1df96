"""The testbed's data: the moving-shapes clips and captions at 8 frames of 32 x 32 pixels.

The generator lives in :mod:`freqlab.data.shapes` (also used by ``dataset=shapes`` and
``task=snr``); this module is the testbed's name for it, so training, the judge and the evaluation
encoder import their data from the testbed package.
"""

from __future__ import annotations

from freqlab.data.shapes import (
    BACKGROUNDS,
    COLOURS,
    DIRECTIONS,
    HELD_OUT_EVERY,
    NUM_FRAMES,
    SHAPES,
    SIZE,
    caption,
    caption_split,
    caption_words,
    combination_caption,
    make_clips,
    render_clips,
    shape_alpha,
    split_captions,
)

# The judge's augmented clips (freqlab.testbed.train_judge) draw their shapes with this name.
_shape_alpha = shape_alpha

__all__ = [
    "BACKGROUNDS",
    "COLOURS",
    "DIRECTIONS",
    "HELD_OUT_EVERY",
    "NUM_FRAMES",
    "SHAPES",
    "SIZE",
    "caption",
    "caption_split",
    "caption_words",
    "combination_caption",
    "make_clips",
    "render_clips",
    "shape_alpha",
    "split_captions",
]
