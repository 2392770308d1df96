"""Image encoders for the feature-based metrics.

An encoder maps a chunk of preprocessed frames ``(N, 3, h, w)`` to feature vectors ``(N, D)``.
A metric's ``encoder=`` argument takes:

* a registered name (:data:`ENCODERS`): ``"dino_vits16"`` (FreeInit), ``"dino_vitb16"`` (VBench
  subject consistency), ``"clip_vitb32"`` (VBench background consistency, CLIP score), ... Its
  weights are resolved by :func:`evaluation.checkpoints.resolve_weights` (a local file given as
  ``weights=``, else the Hugging Face cache, else a clear error; never the network). The model is
  built once per process, device and weights and reused (:func:`load_encoder`).
* ``"testbed_judge"``: the CPU testbed's judge's 64-d per-frame features
  (:mod:`evaluation.testbed_encoder`); its weights ship with freqlab, so nothing is looked up in
  the hub cache and ``weights=`` must be ``None``. Only testbed frames are meaningful.
* ``"pixel"``: no model at all. The normalised frame is average-pooled to a 32 x 32 grid and
  flattened (``D = 3 * 32 * 32``), so the metric's formula runs on downsampled pixels. It needs no
  weights, measures something simpler, and is always reported under its own name.
* any ``nn.Module`` (injected; put in eval mode), or a :class:`FrameEncoder` to name it.

The encoder's name is part of every result name (``dino_consistency[dino_vits16]``); a missing
model raises instead of falling back to another one.

:func:`encode_videos` runs all frames of a batch of videos through an encoder in fixed-size chunks
under ``torch.inference_mode()`` on the chosen device, and returns L2-normalised features.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.checkpoints import (
    WeightsSource,
    check_checkpoint,
    is_torchscript_archive,
    load_state_dict,
    resolve_weights,
)
from evaluation.inputs import frames_to_float
from evaluation.preprocessing import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, Preprocess

__all__ = [
    "ENCODERS",
    "PIXEL",
    "SHIPPED_ENCODERS",
    "TESTBED_JUDGE",
    "EncoderLike",
    "EncoderSpec",
    "FrameEncoder",
    "HashedTextEncoder",
    "PatchAligned",
    "PixelEncoder",
    "clear_encoder_cache",
    "encode_videos",
    "encoder_names",
    "get_encoder",
    "load_encoder",
    "register_encoder",
    "resolve_encoder_weights",
]

PIXEL = "pixel"
# The testbed judge's frame features (evaluation.testbed_encoder, imported lazily: it imports this
# module). Its weights ship inside freqlab, so it has no EncoderSpec (no hub repository).
TESTBED_JUDGE = "testbed_judge"
SHIPPED_ENCODERS = (TESTBED_JUDGE,)
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class EncoderSpec:
    """A named image encoder with real weights.

    Attributes:
        name: registry key and the name in result names (``"dino_vits16"``).
        library: ``"timm"`` or ``"open_clip"``.
        model_id: timm model name (``"vit_small_patch16_224.dino"``) or open_clip model name
            (``"ViT-B-32-quickgelu"``).
        hub_id: Hugging Face repository searched in the local hub cache.
        hub_filenames: weight files in that repository, in order of preference.
        mean: per-channel mean the model was trained with.
        std: per-channel std the model was trained with.
        description: a few words for messages and metadata.
        original: the original checkpoint, also loadable as ``weights=`` (for the message).
        model_kwargs: extra keyword arguments for ``timm.create_model`` /
            ``open_clip.create_model``.
    """

    name: str
    library: str
    model_id: str
    hub_id: str | None
    hub_filenames: tuple[str, ...]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    description: str = ""
    original: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.library not in ("timm", "open_clip"):
            raise ValueError(f"library must be 'timm' or 'open_clip', got {self.library!r}")

    @property
    def model(self) -> str:
        """``library:model_id``, for metadata."""
        return f"{self.library}:{self.model_id}"


_TIMM_FILES = ("model.safetensors", "pytorch_model.bin")
_OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_DINO_URL = "https://dl.fbaipublicfiles.com/dino"


def _dino(name: str, model_id: str, description: str, original: str) -> EncoderSpec:
    # dynamic_img_size: frames that are not cropped to a square keep their aspect ratio, the
    # position embeddings are interpolated (a no-op at 224 x 224) and PatchAligned trims sides to
    # multiples of the patch size, as the original DINO ViT does.
    return EncoderSpec(
        name=name,
        library="timm",
        model_id=model_id,
        hub_id=f"timm/{model_id}",
        hub_filenames=_TIMM_FILES,
        description=description,
        original=f"{original} ({_DINO_URL}/{original.removesuffix('.pth')}/{original})",
        model_kwargs={"num_classes": 0, "dynamic_img_size": True},
    )


ENCODERS: dict[str, EncoderSpec] = {
    "dino_vits16": _dino(
        "dino_vits16",
        "vit_small_patch16_224.dino",
        "DINO ViT-S/16",
        "dino_deitsmall16_pretrain.pth",
    ),
    "dino_vitb16": _dino(
        "dino_vitb16", "vit_base_patch16_224.dino", "DINO ViT-B/16", "dino_vitbase16_pretrain.pth"
    ),
    "dino_vits8": _dino(
        "dino_vits8", "vit_small_patch8_224.dino", "DINO ViT-S/8", "dino_deitsmall8_pretrain.pth"
    ),
    "dino_vitb8": _dino(
        "dino_vitb8", "vit_base_patch8_224.dino", "DINO ViT-B/8", "dino_vitbase8_pretrain.pth"
    ),
    "clip_vitb32": EncoderSpec(
        name="clip_vitb32",
        library="open_clip",
        model_id="ViT-B-32-quickgelu",
        hub_id="timm/vit_base_patch32_clip_224.openai",
        hub_filenames=_OPEN_CLIP_FILES,
        mean=CLIP_MEAN,
        std=CLIP_STD,
        description="OpenAI CLIP ViT-B/32",
    ),
    "clip_vitb32_laion2b": EncoderSpec(
        name="clip_vitb32_laion2b",
        library="open_clip",
        model_id="ViT-B-32",
        hub_id="laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        hub_filenames=_OPEN_CLIP_FILES,
        mean=CLIP_MEAN,
        std=CLIP_STD,
        description="LAION-2B CLIP ViT-B/32",
    ),
}


def register_encoder(spec: EncoderSpec, overwrite: bool = False) -> EncoderSpec:
    """Add ``spec`` to :data:`ENCODERS`, so that ``encoder=spec.name`` loads it."""
    if spec.name == PIXEL or spec.name in SHIPPED_ENCODERS:
        raise ValueError(f"spec.name {spec.name!r} is reserved for a built-in encoder")
    if spec.name in ENCODERS and not overwrite and ENCODERS[spec.name] != spec:
        raise ValueError(f"an encoder named {spec.name!r} is registered; pass overwrite=True")
    ENCODERS[spec.name] = spec
    return spec


# --------------------------------------------------------------------------- encoder modules


class PixelEncoder(nn.Module):
    """Weight-free features: the normalised frame average-pooled to ``grid x grid``, flattened.

    ``(N, 3, h, w) -> (N, 3 * grid * grid)``. Cosine similarity of these vectors compares the
    frames' coarse colour layout.
    """

    def __init__(self, grid: int = 32) -> None:
        super().__init__()
        self.grid = grid

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 3, h, w)`` -> ``(N, 3 * grid * grid)``."""
        return F.adaptive_avg_pool2d(frames, self.grid).flatten(1)


class HashedTextEncoder(nn.Module):
    """A text stand-in for the pixel encoder: each prompt maps to a fixed pseudo-random vector,
    seeded by its SHA-256. ``list[str] -> (B, dim)``.

    It carries no meaning: ``clip_score[pixel]`` exercises the pipeline without weights and
    says nothing about text alignment.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, prompts: Sequence[str]) -> torch.Tensor:
        """``B`` prompts -> ``(B, dim)`` float32 on the CPU."""
        rows = []
        for prompt in prompts:
            seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "little")
            gen = torch.Generator().manual_seed(seed)
            rows.append(torch.randn(self.dim, generator=gen))
        return torch.stack(rows)


class PatchAligned(nn.Module):
    """A timm ViT that takes frames of any size, as the original DINO ViT does.

    Frames are trimmed at the bottom and right to multiples of the patch size (what the original
    stride-``p`` patch convolution ignores anyway); timm's ``dynamic_img_size`` interpolates the
    position embeddings to the patch grid. ``(N, 3, h, w) -> (N, D)``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        patch = getattr(getattr(model, "patch_embed", None), "patch_size", (1, 1))
        self.patch = tuple(patch) if isinstance(patch, (tuple, list)) else (patch, patch)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 3, h, w)`` -> ``(N, D)``."""
        h, w = frames.shape[-2:]
        return self.model(frames[..., : h - h % self.patch[0], : w - w % self.patch[1]])


class CLIPImageEncoder(nn.Module):
    """``model.encode_image`` of an open_clip model: ``(N, 3, 224, 224) -> (N, D)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 3, 224, 224)`` CLIP-normalised frames -> ``(N, D)`` image embeddings."""
        return self.model.encode_image(frames)


class CLIPTextEncoder(nn.Module):
    """Tokenizer + ``model.encode_text`` of an open_clip model: ``list[str] -> (B, D)``.

    Prompts longer than the context (77 tokens) are truncated, with a warning.
    """

    def __init__(self, model: nn.Module, tokenizer: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer

    def forward(self, prompts: Sequence[str]) -> torch.Tensor:
        """``B`` prompts -> ``(B, D)`` text embeddings."""
        context = getattr(self.tokenizer, "context_length", 77)
        encode = getattr(self.tokenizer, "encode", None)
        if encode is not None:
            long = [p for p in prompts if len(encode(p)) + 2 > context]
            if long:
                warnings.warn(
                    f"{len(long)} prompt(s) exceed CLIP's {context} tokens and are truncated, "
                    f"e.g. {long[0][:80]!r}",
                    stacklevel=3,
                )
        device = next(self.model.parameters()).device
        tokens = self.tokenizer(list(prompts)).to(device)
        return self.model.encode_text(tokens)


@dataclass(frozen=True, eq=False)
class FrameEncoder:
    """An encoder ready for :func:`encode_videos`: the module plus what a result must record.

    Attributes:
        name: the name in result names (``"dino_vits16"``, ``"pixel"``, ``"custom:MyNet"``).
        module: ``(N, 3, h, w)`` preprocessed frames -> ``(N, D)`` features.
        model: the architecture (``"timm:vit_small_patch16_224.dino"``, ``"pixel"``, class name).
        weights: where the weights came from (``"hf-cache:..."``, ``"file:..."``, ``"random"``,
            ``"injected"``, ``"none"``).
        mean: the per-channel mean the encoder expects (``None``: the metric's default).
        std: the per-channel std the encoder expects (``None``: the metric's default).
        text: for CLIP-like encoders, ``list[str] -> (B, D)`` text features in the same space.
    """

    name: str
    module: nn.Module
    model: str = ""
    weights: str = "injected"
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    text: Callable[[Sequence[str]], torch.Tensor] | None = None

    @property
    def device(self) -> torch.device | None:
        """The device of the module's first parameter or buffer (``None``: it has none)."""
        for tensor in [*self.module.parameters(), *self.module.buffers()]:
            return tensor.device
        return None

    def preprocess_for(self, default: Preprocess) -> Preprocess:
        """``default``'s geometry with this encoder's normalisation, if it has its own."""
        if self.mean is None or self.std is None:
            return default
        return default.with_normalization(self.mean, self.std)

    def metadata(self) -> dict[str, str]:
        """Plain values describing the encoder, for result metadata."""
        return {"encoder": self.name, "encoder_model": self.model, "encoder_weights": self.weights}


EncoderLike = str | nn.Module | FrameEncoder | None

# --------------------------------------------------------------------------- loading

_CACHE: dict[tuple[str, str, str], FrameEncoder] = {}
_LOCK = threading.Lock()


def clear_encoder_cache() -> None:
    """Forget every loaded encoder (the next use loads it again)."""
    import sys

    with _LOCK:
        _CACHE.clear()
    testbed = sys.modules.get("evaluation.testbed_encoder")  # not imported: nothing cached
    if testbed is not None:
        testbed.clear_cache()


def encoder_names() -> list[str]:
    """Every name an ``encoder=`` argument (and ``metrics.encoder``) accepts: ``"pixel"``, the
    registered encoders (:data:`ENCODERS`, including ones registered later) and the shipped ones
    (``"testbed_judge"``)."""
    return [PIXEL, *ENCODERS, *SHIPPED_ENCODERS]


def _spec(name: str) -> EncoderSpec:
    if name not in ENCODERS:
        raise ValueError(
            f"encoder must be one of {sorted(encoder_names())}, an nn.Module or a "
            f"FrameEncoder, got {name!r}"
        )
    return ENCODERS[name]


def resolve_encoder_weights(
    name: str, weights: str | os.PathLike | None = None, argument: str = "weights"
) -> WeightsSource:
    """Where the weights of the registered encoder ``name`` are, without loading them.

    Args:
        name: a key of :data:`ENCODERS`, or ``"testbed_judge"`` (its shipped file; no hub lookup).
        weights: ``None`` (hub cache), ``"random"``, or a local checkpoint file / directory;
            ``None`` only for ``"testbed_judge"``.
        argument: what the message calls ``weights`` (e.g. the config key
            ``metrics.weights.dino_vits16``).

    Raises:
        WeightsNotFoundError: nothing found; the message says how to provide the weights.
        ValueError: weights given for ``"testbed_judge"``.
    """
    if name == TESTBED_JUDGE:
        from evaluation.testbed_encoder import judge_weights_source

        try:
            return judge_weights_source(weights)
        except ValueError as err:
            raise ValueError(f"{argument}: {err}" if argument != "weights" else str(err)) from None
    spec = _spec(name)
    return resolve_weights(
        f"encoder {name!r} ({spec.description}, {spec.library} {spec.model_id!r})",
        weights,
        hub_id=spec.hub_id,
        hub_filenames=spec.hub_filenames,
        original=spec.original,
        argument=argument,
        alternative=(
            f'run without weights: encoder="{PIXEL}" (the same formula on downsampled pixels, '
            f"a weaker measure, reported as a different metric)"
        ),
    )


def _build_timm(spec: EncoderSpec, source: WeightsSource) -> nn.Module:
    import timm

    if source.path is None:
        model = timm.create_model(spec.model_id, pretrained=False, **spec.model_kwargs)
    else:
        # pretrained=True with a state_dict overlay: timm's key filter and classifier handling,
        # no download (a state dict has priority over every other source).
        model = timm.create_model(
            spec.model_id,
            pretrained=True,
            pretrained_cfg_overlay={"state_dict": load_state_dict(source.path)},
            **spec.model_kwargs,
        )
    return PatchAligned(model) if spec.model_kwargs.get("dynamic_img_size") else model


def _build_open_clip(spec: EncoderSpec, source: WeightsSource) -> tuple[nn.Module, Callable]:
    import open_clip

    if source.path is None:
        model = open_clip.create_model(spec.model_id, pretrained=None, **spec.model_kwargs)
    elif is_torchscript_archive(source.path):
        raise ValueError(
            f"{source.path} is a TorchScript archive (like OpenAI's ViT-B-32.pt), which is not "
            f"loaded: use the safetensors file {spec.hub_filenames[0]} of {spec.hub_id} instead"
        )
    else:
        # open_clip reads .safetensors with safetensors and anything else with
        # torch.load(weights_only=True), then converts the keys and loads strictly. Checked first,
        # so that a corrupt file gets our message, not torch's advice to load unsafely.
        check_checkpoint(source.path)
        model = open_clip.create_model(
            spec.model_id, pretrained=str(source.path), weights_only=True, **spec.model_kwargs
        )
    return model, open_clip.get_tokenizer(spec.model_id)


def load_encoder(
    name: str,
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> FrameEncoder:
    """The registered encoder ``name``, built once per process, weights and device.

    Args:
        name: a key of :data:`ENCODERS`, ``"pixel"`` or ``"testbed_judge"``
            (:func:`evaluation.testbed_encoder.testbed_judge_encoder`).
        weights: ``None`` (hub cache), ``"random"`` (random init with seed 0; the name becomes
            ``name@random``), or a local checkpoint file or directory; ``None`` only for
            ``"pixel"`` and ``"testbed_judge"``.
        device: where the model lives.

    Returns:
        A cached :class:`FrameEncoder` in eval mode with gradients off.

    Raises:
        WeightsNotFoundError: no weights found (see :func:`resolve_encoder_weights`).
    """
    device = torch.device(device)
    if name == PIXEL:
        if weights is not None:
            raise ValueError(f'weights must be None for encoder="{PIXEL}", got {weights!r}')
        module = PixelEncoder()
        return FrameEncoder(
            PIXEL, module, model=PIXEL, weights="none", text=HashedTextEncoder(3 * module.grid**2)
        )
    if name == TESTBED_JUDGE:
        from evaluation.testbed_encoder import testbed_judge_encoder

        return testbed_judge_encoder(device, weights)  # cached there, once per device
    spec = _spec(name)
    source = resolve_encoder_weights(name, weights)
    key = (name, str(source), str(device))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            if spec.library == "timm":
                module, text = _build_timm(spec, source), None
            else:
                model, tokenizer = _build_open_clip(spec, source)
                module, text = CLIPImageEncoder(model), CLIPTextEncoder(model, tokenizer)
        module = module.eval().requires_grad_(False).to(device)
        encoder = FrameEncoder(
            name=f"{name}@random" if source.kind == "random" else name,
            module=module,
            model=spec.model,
            weights=str(source),
            mean=spec.mean,
            std=spec.std,
            text=text,
        )
        _CACHE[key] = encoder
        return encoder


def get_encoder(
    encoder: EncoderLike,
    *,
    default: str,
    weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    fallback_device: torch.device | None = None,
) -> FrameEncoder:
    """Turn a metric's ``encoder=`` argument into a :class:`FrameEncoder`.

    Args:
        encoder: ``None`` (use ``default``), a registered name, ``"pixel"``, an ``nn.Module`` or a
            :class:`FrameEncoder`.
        default: the metric's encoder name.
        weights: only with a registered name: ``None``, ``"random"`` or a local checkpoint.
        device: where to run; a registered encoder is loaded there, an injected one must be there.
        fallback_device: where a registered encoder is loaded when ``device`` is ``None``.
    """
    if encoder is None:
        encoder = default
    if isinstance(encoder, str):
        target = device if device is not None else (fallback_device or "cpu")
        return load_encoder(encoder, weights=weights, device=target)
    if weights is not None:
        raise ValueError(
            f"weights is only used with a registered encoder name, got weights={weights!r} with "
            f"an injected {type(encoder).__name__}"
        )
    if isinstance(encoder, nn.Module):
        encoder = FrameEncoder(
            f"custom:{type(encoder).__name__}", encoder, model=type(encoder).__name__
        )
    if not isinstance(encoder, FrameEncoder):
        raise ValueError(
            f"encoder must be a registered name, {PIXEL!r}, an nn.Module or a FrameEncoder, "
            f"got {type(encoder).__name__}"
        )
    encoder.module.eval()
    module_device = encoder.device
    if device is not None and module_device is not None and module_device != torch.device(device):
        raise ValueError(
            f"device={str(device)!r} but the injected encoder's parameters are on "
            f"{module_device}; move the encoder or leave device=None"
        )
    return encoder


def _run_device(
    encoder: FrameEncoder, device: str | torch.device | None, videos: torch.Tensor
) -> torch.device:
    if device is not None:
        return torch.device(device)
    return encoder.device or videos.device


def encode_videos(
    videos: torch.Tensor,
    encoder: FrameEncoder,
    preprocess: Preprocess,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """L2-normalised features of every frame of every video.

    The ``B * T`` frames are processed in chunks of ``batch_size`` frames, across video
    boundaries: each chunk is moved to the device, converted to float in [0, 1], preprocessed and
    encoded under ``torch.inference_mode()``. Results do not depend on ``batch_size`` or on which
    videos share a batch (beyond floating-point reassociation inside the encoder).

    Args:
        videos: ``(B, T, 3, H, W)`` checked videos (:func:`evaluation.inputs.check_videos`).
        encoder: the encoder.
        preprocess: the resize/crop/normalisation rule.
        batch_size: frames per encoder call.
        device: where to run (default: the encoder's device, else the videos').

    Returns:
        ``(B, T, D)`` float32 unit vectors (an all-zero feature stays zero) on the run device.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    b, t = videos.shape[:2]
    frames = videos.reshape(b * t, *videos.shape[2:])
    run_device = _run_device(encoder, device, videos)
    chunks = []
    with torch.inference_mode():
        for start in range(0, b * t, batch_size):
            chunk = frames[start : start + batch_size].to(run_device, non_blocking=True)
            features = encoder.module(preprocess(frames_to_float(chunk)))
            if (
                not isinstance(features, torch.Tensor)
                or features.dim() != 2
                or len(features) != len(chunk)
            ):
                shape = getattr(features, "shape", type(features).__name__)
                raise ValueError(
                    f"encoder {encoder.name!r} must map (N, 3, h, w) frames to (N, D) features, "
                    f"got {shape} for N={len(chunk)}"
                )
            chunks.append(features.float())
        features = F.normalize(torch.cat(chunks), dim=-1)
    return features.reshape(b, t, -1)
