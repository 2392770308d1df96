"""The testbed's components: AnimateDiff architecture at toy size, and its caption tokenizer.

The pipeline is diffusers' :class:`AnimateDiffPipeline` (a UNet2DConditionModel lifted to a
UNetMotionModel through a MotionAdapter), a small AutoencoderKL (32x32 RGB -> 4x8x8 latents) and a
small CLIPTextModel, with AnimateDiff's DDIM schedule; the shipped UNet (v3) predicts the velocity
rather than AnimateDiff's epsilon, as its ``testbed.json`` records (:func:`prediction_type`). Sizes are those of
:mod:`freqlab.models.tiny`; only the tokenizer differs: the byte-level CLIP BPE plus merges that
make every caption word (:func:`freqlab.testbed.data.caption_words`) a single token.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any

import torch
from diffusers import (
    AnimateDiffPipeline,
    AutoencoderKL,
    DDIMScheduler,
    MotionAdapter,
    UNet2DConditionModel,
    UNetMotionModel,
)
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from freqlab.models.tiny import (
    MOTION_ADAPTER_CONFIG,
    SCHEDULER_CONFIG,
    TEXT_CONFIG,
    UNET2D_CONFIG,
    VAE_CONFIG,
)
from freqlab.models.tokenizer import byte_level_vocab
from freqlab.testbed.data import caption_words

WEIGHTS_PACKAGE = "freqlab.testbed.weights"
WEIGHT_FILES = ("vae", "text_encoder", "unet")
MAX_TOKENS = 16  # captions are 11 words: BOS + 11 + EOS fits


def caption_tokenizer(model_max_length: int = MAX_TOKENS) -> CLIPTokenizer:
    """Byte-level CLIP BPE (ids 0-513 as :func:`byte_level_clip_tokenizer`) whose extra merges
    encode each caption word as one token; any other text still encodes, byte by byte."""
    vocab = byte_level_vocab()
    # One merge chain per word, left to right ("r"+"e", "re"+"d</w>"). Longer words first, so that
    # a short word's chain (e.g. red's "r"+"e") never fires inside a longer word (g-r-e-e-n).
    merges: list[tuple[str, str]] = []
    for word in sorted(caption_words(), key=lambda w: (-len(w), w)):
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        prefix = symbols[0]
        for symbol in symbols[1:]:
            pair = (prefix, symbol)
            prefix += symbol
            if pair not in merges:
                merges.append(pair)
            vocab.setdefault(prefix, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)


def text_config(vocab_size: int) -> dict[str, Any]:
    """The CLIP text encoder config for a tokenizer of ``vocab_size`` ids."""
    return dict(TEXT_CONFIG, vocab_size=vocab_size, max_position_embeddings=MAX_TOKENS)


def build_components(seed: int = 0, prediction_type: str = "epsilon") -> dict[str, Any]:
    """Randomly initialised (seeded) testbed components: vae, text_encoder, tokenizer, unet
    (UNetMotionModel), scheduler (AnimateDiff's DDIM schedule; the UNet predicts
    ``prediction_type``: ``"epsilon"`` as AnimateDiff, or ``"v_prediction"``)."""
    tokenizer = caption_tokenizer()
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_config(len(tokenizer))))
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(**VAE_CONFIG)
    torch.manual_seed(seed + 2)
    unet2d = UNet2DConditionModel(**UNET2D_CONFIG)
    torch.manual_seed(seed + 3)
    adapter = MotionAdapter(**MOTION_ADAPTER_CONFIG)
    unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    return dict(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(**SCHEDULER_CONFIG, prediction_type=prediction_type),
    )


def assemble_pipeline(components: dict[str, Any]) -> AnimateDiffPipeline:
    """An AnimateDiffPipeline over testbed components (the unet is already a UNetMotionModel)."""
    pipe = AnimateDiffPipeline(
        vae=components["vae"],
        text_encoder=components["text_encoder"],
        tokenizer=components["tokenizer"],
        unet=components["unet"],
        motion_adapter=None,
        scheduler=components["scheduler"],
        feature_extractor=None,
        image_encoder=None,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_weights(components: dict[str, Any], weights: dict[str, dict[str, torch.Tensor]]) -> None:
    """Load ``{"vae"|"text_encoder"|"unet": state_dict}`` into ``components`` (strict)."""
    for name, state in weights.items():
        components[name].load_state_dict(state, strict=True)


def weights_digest() -> str:
    """SHA-256 (first 16 hex digits) of the shipped weights and their ``testbed.json``: changes
    whenever the weights are retrained, so cached samples of older weights are never reused."""
    root = resources.files(WEIGHTS_PACKAGE)
    h = hashlib.sha256()
    for name in (*(f"{n}.safetensors" for n in WEIGHT_FILES), "testbed.json"):
        h.update(root.joinpath(name).read_bytes())
    return h.hexdigest()[:16]


def prediction_type(meta: dict[str, Any]) -> str:
    """What a UNet described by ``testbed.json`` contents predicts (weights trained before the
    setting existed predict epsilon)."""
    return (meta.get("train_config") or {}).get("prediction_type", "epsilon")


def testbed_pipeline(seed: int = 0) -> AnimateDiffPipeline:
    """The trained testbed, from the safetensors shipped in :mod:`freqlab.testbed.weights`.

    ``seed`` is accepted for the registry's ``build(seed=...)`` signature and unused: the
    weights are fixed. Needs no network.
    """
    del seed
    root = resources.files(WEIGHTS_PACKAGE)
    meta = json.loads(root.joinpath("testbed.json").read_text())
    components = build_components(0, prediction_type(meta))
    weights = {}
    for name in WEIGHT_FILES:
        with resources.as_file(root.joinpath(f"{name}.safetensors")) as path:
            weights[name] = load_file(str(path))
    load_weights(components, weights)
    components["vae"].register_to_config(scaling_factor=meta["vae_scaling_factor"])
    return assemble_pipeline(components)
