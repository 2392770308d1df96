"""FreeNoise on diffusers video pipelines: longer videos from a short-window motion module.

FreeNoise (Qiu et al., "FreeNoise: Tuning-Free Longer Video Diffusion via Noise Rescheduling",
ICLR 2024, arXiv:2310.15169) lets a model whose temporal attention was trained on 16 frames sample
longer videos, training-free, with two changes::

    with FreeNoise(context_length=16, context_stride=4).apply(pipe):
        frames = pipe(prompt, num_frames=64).frames

* **Noise rescheduling** (:meth:`FreeNoise.reschedule`): frames ``f >= L`` of the initial noise are
  local shuffles of earlier frames. For ``i = L, L+S, L+2S, ...`` the block ``[i, i+S)`` becomes a
  random permutation of the block ``[i-L, i-L+S)`` (in order, in place, so every block is
  ultimately a permutation of frames ``0..L-1``); a last block shorter than ``S`` takes the first
  entries of its permutation. The permutation is ``torch.randperm(S, generator=...)`` as diffusers'
  ``_prepare_latents_free_noise`` draws it (the official code uses Python's ``random.shuffle``,
  so bit parity with it is impossible; diffusers' order is reproduced exactly).
* **Window fusion** (:mod:`freqlab.freenoise_attention`): every temporal transformer block runs its
  attention on windows of ``L`` frames every ``S`` frames and fuses them with ``weighting``; the
  feed-forward runs on the fused sequence. Block level, as diffusers and the official AnimateDiff
  port (the official VideoCrafter code windows per attention layer; see that module).

``FreeNoise(windows=False)`` is the noise rescheduling alone: it needs no UNet, so it serves every
video pipeline diffusers ships, the diffusion transformers too (Wan, CogVideoX, LTX-Video, Mochi),
whose ``context_length`` counts latent frames; the frames are shuffled along each pipeline's own
frame axis (CogVideoX's latents are ``(B, F, C, h, w)``, LTX-Video's token-packed). The window
fusion is UNet-only and refused on a DiT with one message naming it and the pipeline's classes.

:meth:`FreeNoise.apply` does both on a pipeline, for ``UNetMotionModel`` (AnimateDiff, positional
embeddings restart in every window) and ``UNet3DConditionModel`` (ModelScope, ZeroScope, and
freqlab's VideoCrafter2 UNet; no positional embedding), and adds per-frame prompts
(``prompt={0: "...", 16: "..."}``, interpolated between keyframes as diffusers' ``_lerp``) on
AnimateDiff pipelines (``UNetMotionModel``, embeddings passed per frame: text-to-video and
video-to-video, whose ``prepare_latents`` and noise are left alone as diffusers leaves them). ``UNet3DConditionModel``
pipelines condition every frame on one embedding; they refuse a dict prompt themselves.

What freqlab does differently from diffusers' ``enable_free_noise`` (and why):

* ``fix_tail=True`` (default) fixes the tail count bug (``weights[:, -L]`` for ``weights[:, -L:]``);
  ``fix_tail=False`` reproduces diffusers bit for bit.
* ``noise="repeat_context"`` tiles the first ``L`` noise frames (diffusers' documented intent);
  in diffusers a bug (``context_num_frames`` compares an int with a string) draws ``F`` frames and
  the tiling then keeps them all, so there it behaves as ``"random"``.
* A list of generators reschedules video ``i`` with generator ``i`` only (diffusers passes the
  list to ``randperm`` and fails); one generator gives one permutation per block shared by the
  batch, as diffusers.
* Prompts: a plain string prompt is encoded as usual (diffusers lerps it with itself, equal to
  ~1 ulp); a batch of string prompts works (diffusers refuses lists under FreeNoise).
* ``apply()`` leaves the UNet's modules in place and only overrides the temporal blocks' ``forward``
  on the instances, so leaving the ``with`` block restores the model exactly.
* The official multi-prompt "motion injection" (VideoCrafter) is not implemented, as in diffusers.

Official code read: AILab-CVC/FreeNoise at 404b68b (``attention_freenoise.py``,
``inference_freenoise.py``), arthur-qiu/FreeNoise-AnimateDiff at e01d822 (``motion_module.py``);
diffusers 0.42 ``pipelines/free_noise_utils.py`` and ``models/attention.py``.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from diffusers import UNetMotionModel

from freqlab.checks import check_bool, check_int
from freqlab.freenoise_attention import WEIGHTINGS, temporal_blocks, windowed_forward
from freqlab.handles import (
    ModelHandle,
    check_not_applied,
    pipe_denoiser,
    pipe_unet,
    refuse_transformer,
    run_undo,
)
from freqlab.latents import (
    from_pipeline_layout,
    latent_layout,
    latent_packing,
    pack_latents,
    to_pipeline_layout,
    unpack_latents,
    video_factors,
)
from freqlab.sampling import NOISE_TRANSFORM_ATTR

__all__ = [
    "NOISE_TYPES",
    "WEIGHTINGS",
    "FreeNoise",
    "FreeNoiseHandle",
    "interpolate_keyframes",
    "patch_noise",
]

NOISE_TYPES = ("shuffle_context", "repeat_context", "random")

# UNets with FreeNoise applied now: a second apply() on the same model is refused.
_ACTIVE: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()


# --------------------------------------------------------------------------- per-frame prompts


def interpolate_keyframes(keys: list[int], embeds: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Per-frame embeddings ``(F, ...)`` from keyframe embeddings ``embeds`` ``(K, ...)``.

    ``keys`` are the keyframes' frame indices, sorted, starting at 0 and ``< num_frames``. The last
    keyframe is repeated at frame ``F - 1``; between two keyframes ``a < b`` frame ``a + j`` gets
    ``(1 - α) e_a + α e_b`` with ``α = j / (b - a)``, as diffusers' ``_lerp`` computes it.
    """
    keys = list(keys)
    if keys[-1] != num_frames - 1:
        keys.append(num_frames - 1)
        embeds = torch.cat([embeds, embeds[-1:]])
    out = embeds.new_zeros((num_frames, *embeds.shape[1:]))
    out[keys[0]] = embeds[0]  # a single keyframe at F - 1 = 0 (a 1-frame video)
    for i in range(len(keys) - 1):
        start, end = keys[i], keys[i + 1]
        n = end - start + 1
        a, b = embeds[i : i + 1], embeds[i + 1 : i + 2]
        out[start : end + 1] = torch.cat(
            [(1 - j / (n - 1)) * a + (j / (n - 1)) * b for j in range(n)]
        )
    return out


def _keyframes(name: str, value: object) -> dict[int, str]:
    """A prompt (``str``) or per-frame prompts (``{frame: str}``, key 0 required), sorted."""
    if isinstance(value, str):
        return {0: value}
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{name} must be a str or a non-empty dict {{frame: str}}, got {value!r}")
    for key, text in value.items():
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            raise ValueError(f"{name}: keys must be frame indices (ints >= 0), got {key!r}")
        if not isinstance(text, str):
            raise ValueError(f"{name}: values must be str, got {text!r} at frame {key}")
    if 0 not in value:
        raise ValueError(
            f"{name}: per-frame prompts need a prompt at frame 0, got keys {sorted(value)}"
        )
    return dict(sorted(value.items()))


class _PromptTravel:
    """Per-frame prompts of the pipeline call in progress (AnimateDiff pipelines).

    ``encode_prompt`` (wrapped) encodes the keyframes and returns frame 0's embeddings as
    placeholders, which the pipeline repeats per frame as usual; ``prepare_latents`` (wrapped, on
    text-to-video pipelines) knows the frame count and builds the per-frame embeddings before any
    sampling, else the UNet's first call does from its sample's frames; a forward pre-hook on the UNet
    swaps them in for the placeholder rows ``[negative x F; positive x F]`` (CFG) or
    ``[positive x F]``, and only for those (it checks the first and last rows).
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.keyframes: dict[str, tuple[list[int], torch.Tensor]] = {}
        self.frames: torch.Tensor | None = None
        self.first_last: tuple[torch.Tensor, torch.Tensor] | None = None

    def build(self, num_frames: int) -> None:
        if not self.keyframes:
            return
        parts = []
        for name in ("negative_prompt", "prompt"):  # the pipeline's CFG order
            if name not in self.keyframes:
                continue
            keys, embeds = self.keyframes[name]
            if keys[-1] >= num_frames:
                raise ValueError(
                    f"{name}: keyframe {keys[-1]} is not a frame of a {num_frames}-frame video "
                    f"(keys must be < num_frames)"
                )
            parts.append(interpolate_keyframes(keys, embeds, num_frames))
        self.frames = torch.cat(parts)
        first = self.keyframes["negative_prompt" if len(parts) == 2 else "prompt"][1][0]
        self.first_last = (first, self.keyframes["prompt"][1][0])

    def swap(self, hidden: torch.Tensor) -> torch.Tensor | None:
        """The per-frame embeddings if ``hidden`` is this call's placeholder layout, else None."""
        if self.frames is None or self.first_last is None or hidden.shape != self.frames.shape:
            return None
        first, last = self.first_last
        if not (torch.equal(hidden[0], first) and torch.equal(hidden[-1], last)):
            return None
        return self.frames


def _wrap_encode_prompt(original: Callable[..., Any], travel: _PromptTravel) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def encode_prompt(*args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(*args, **kwargs).arguments
        prompt, negative = arguments.get("prompt"), arguments.get("negative_prompt")
        travel.clear()
        if not isinstance(prompt, dict) and not isinstance(negative, dict):
            return original(*args, **kwargs)
        for name in ("prompt_embeds", "negative_prompt_embeds"):
            if arguments.get(name) is not None:
                raise ValueError(f"{name} cannot be combined with per-frame prompts (a dict)")
        if arguments.get("num_images_per_prompt", 1) != 1:
            raise ValueError("num_videos_per_prompt must be 1 with per-frame prompts (a dict)")
        positive = _keyframes("prompt", prompt)
        negatives = _keyframes("negative_prompt", "" if negative is None else negative)
        common = dict(
            device=arguments["device"],
            num_images_per_prompt=1,
            lora_scale=arguments.get("lora_scale"),
            clip_skip=arguments.get("clip_skip"),
        )
        # Keyframes encoded as one batch each, the negatives through the negative branch (no
        # clip_skip there), exactly as diffusers' _encode_prompt_free_noise.
        pos, _ = original(
            prompt=list(positive.values()), do_classifier_free_guidance=False, **common
        )
        travel.keyframes["prompt"] = (list(positive), pos)
        neg = None
        if arguments["do_classifier_free_guidance"]:
            _, neg = original(
                prompt=[""] * len(negatives),
                do_classifier_free_guidance=True,
                negative_prompt=list(negatives.values()),
                **common,
            )
            travel.keyframes["negative_prompt"] = (list(negatives), neg)
        return pos[:1], None if neg is None else neg[:1]

    return encode_prompt


def _prompt_hook(travel: _PromptTravel) -> Callable[..., Any]:
    def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        sample = kwargs["sample"] if "sample" in kwargs else (args[0] if args else None)
        if travel.keyframes and travel.frames is None and getattr(sample, "ndim", 0) == 5:
            # No wrapped prepare_latents built them (video-to-video pipelines encode the prompt
            # after preparing latents): the first UNet call's sample (B, C, F, h, w) gives F.
            travel.build(sample.shape[2])
        if "encoder_hidden_states" in kwargs:
            frames = travel.swap(kwargs["encoder_hidden_states"])
            return None if frames is None else (args, {**kwargs, "encoder_hidden_states": frames})
        if len(args) > 2 and isinstance(args[2], torch.Tensor):
            frames = travel.swap(args[2])
            return None if frames is None else ((*args[:2], frames, *args[3:]), kwargs)
        return None

    return hook


# --------------------------------------------------------------------------- handle


class FreeNoiseHandle(ModelHandle):
    """What one :meth:`FreeNoise.apply` changed: a context manager, and ``remove()``.

    ``remove()`` undoes every change in reverse order and is idempotent; it runs on leaving the
    ``with`` block, also on an exception (which then propagates).
    """

    def __init__(self, unet: torch.nn.Module, blocks: list[str], undo: list[Callable[[], None]]):
        super().__init__(unet, undo, _ACTIVE)
        self.blocks = blocks

    def _changed(self) -> str:
        return f"{len(self.blocks)} blocks"


def _set_attr(obj: Any, name: str, value: Any, undo: list[Callable[[], None]]) -> None:
    """``setattr`` on the instance, with an undo step that restores exactly what was there."""
    had, old = name in vars(obj), vars(obj).get(name)
    setattr(obj, name, value)
    undo.append(lambda: setattr(obj, name, old) if had else delattr(obj, name))


# --------------------------------------------------------------------------- FreeNoise


def _generators(generator: object, batch: int) -> list[torch.Generator] | None:
    """``None`` for one shared stream (a generator or the global RNG), else one per video."""
    if generator is None or isinstance(generator, torch.Generator):
        return None
    if isinstance(generator, (list, tuple)) and all(
        isinstance(g, torch.Generator) for g in generator
    ):
        if len(generator) != batch:
            raise ValueError(
                f"generator is a list of {len(generator)} generators for a batch of {batch} videos"
            )
        return list(generator)
    raise ValueError(
        f"generator must be None, a torch.Generator or a list of them, got {type(generator).__name__}"
    )


@dataclass(frozen=True)
class FreeNoise:
    """FreeNoise's settings; :meth:`apply` puts it on a pipeline, :meth:`reschedule` shuffles noise.

    Args:
        context_length: frames per attention window ``L`` (the motion module's training length;
            at most its positional embedding's length, checked in :meth:`apply`).
        context_stride: frames between window starts ``S``, in ``[1, L]``; also the block size of
            the noise shuffle.
        weighting: window fusion weights, ``"pyramid"`` ([1..8, 8..1] for 16, the paper's),
            ``"flat"`` or ``"delayed_reverse_sawtooth"`` (diffusers'; see
            :func:`freqlab.freenoise_attention.window_weights`).
        noise: ``"shuffle_context"`` (the paper's), ``"repeat_context"`` (tile frames ``0..L-1``)
            or ``"random"`` (noise left as drawn).
        fix_tail: count the tail window with its weights' slice (correct); ``False`` reproduces
            diffusers' ``weights[:, -L]`` tail bug.
        windows: window fusion and noise rescheduling (the paper's FreeNoise); ``False``: the
            noise rescheduling alone, which needs no UNet, so it serves every video pipeline
            (the diffusion transformers too: Wan, CogVideoX), where ``L`` and ``S`` count
            *latent* frames. ``weighting`` and ``fix_tail`` are then unused.
    """

    context_length: int = 16
    context_stride: int = 4
    weighting: str = "pyramid"
    noise: str = "shuffle_context"
    fix_tail: bool = True
    windows: bool = True

    def __post_init__(self) -> None:
        length = check_int("context_length", self.context_length)
        stride = check_int("context_stride", self.context_stride)
        if stride > length:
            raise ValueError(
                f"context_stride must be in [1, context_length={length}], got {stride}"
            )
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.noise not in NOISE_TYPES:
            raise ValueError(f"noise must be one of {NOISE_TYPES}, got {self.noise!r}")
        check_bool("fix_tail", self.fix_tail)
        check_bool("windows", self.windows)
        object.__setattr__(self, "context_length", length)
        object.__setattr__(self, "context_stride", stride)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return asdict(self)

    def check_frames(self, num_frames: int) -> None:
        """ValueError naming ``context_length`` if no window fits in ``num_frames`` (latent)
        frames: the windows would not cover the video, and the rescheduling, which copies the
        first ``context_length`` frames' noise onward, would have nothing to copy from."""
        if num_frames < self.context_length:
            why = (
                "no window covers a video shorter than one window"
                if self.windows
                else "the rescheduling permutes the noise of the first context_length frames"
            )
            raise ValueError(
                f"context_length ({self.context_length}) must be <= the number of latent frames "
                f"({num_frames}): {why}"
            )

    # ----------------------------------------------------------------------- noise

    def reschedule(self, noise: torch.Tensor, generator: Any = None) -> torch.Tensor:
        """FreeNoise's initial noise from i.i.d. noise ``(B, C, F, h, w)``, same shape.

        Always freqlab's layout, frames on axis 2, whatever the pipeline's own (:meth:`apply`
        converts CogVideoX's ``(B, F, C, h, w)`` at the pipeline boundary).

        Args:
            noise: Gaussian noise (any scale: it is only permuted or tiled), not modified.
            generator: the randomness of the shuffles: a ``torch.Generator`` (one permutation
                per block, shared by the batch, drawn in diffusers' order), ``None`` (the global
                RNG, as diffusers), or a list of ``B`` generators (video ``i`` uses generator
                ``i`` only, so a video's noise depends on its own seed alone).

        Returns:
            ``"shuffle_context"``: a new tensor, see the module docstring; ``"repeat_context"``:
            frame ``f`` is frame ``f mod L`` (no randomness); ``"random"``: ``noise`` itself.

        Raises:
            ValueError: ``noise`` is not 5-D, has fewer frames than ``context_length``, or
                ``generator`` is not one of the above.
        """
        if not isinstance(noise, torch.Tensor) or noise.ndim != 5:
            shape = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
            raise ValueError(f"noise must be a (B, C, F, h, w) tensor, got {shape}")
        gens = _generators(generator, noise.shape[0])
        num_frames = noise.shape[2]
        self.check_frames(num_frames)
        if self.noise == "random":
            return noise
        if self.noise == "repeat_context":
            index = torch.arange(num_frames, device=noise.device) % self.context_length
            return noise[:, :, index]
        out = noise.clone()
        if gens is None:
            self._shuffle(out, generator)
        else:
            for b, gen in enumerate(gens):
                self._shuffle(out[b : b + 1], gen)
        return out

    def _shuffle(self, x: torch.Tensor, generator: torch.Generator | None) -> None:
        """diffusers' shuffle_context loop, in place on ``x`` ``(b, C, F, h, w)``."""
        length, stride, num_frames = self.context_length, self.context_stride, x.shape[2]
        device = generator.device if generator is not None else torch.device("cpu")
        for i in range(length, num_frames, stride):
            perm = torch.randperm(stride, generator=generator, device=device)
            size = min(stride, num_frames - i)  # the last block may be short: truncate
            source = (i - length + perm[:size]).to(x.device)
            x[:, :, i : i + size] = x[:, :, source]

    # ----------------------------------------------------------------------- apply

    def apply(self, pipe: Any) -> FreeNoiseHandle:
        """Put FreeNoise on ``pipe`` (a video pipeline, or its UNet alone for the windowing).

        Inside (``with freenoise.apply(pipe): ...``, or until ``handle.remove()``):

        * every temporal transformer block's ``forward`` is the windowed one (``windows=True``;
          with ``windows=False`` no module changes and ``pipe`` may be any video pipeline with
          a ``.unet`` or a ``.transformer``: only its noise is rescheduled);
        * ``pipe.prepare_latents`` reschedules the noise the pipeline draws itself
          (``latents=None``; given latents are used as they are) and refuses a frame count
          shorter than ``context_length`` before any sampling, if it is a text-to-video one
          (takes ``num_frames``, ``generator`` and ``latents``; others are left alone);
        * ``pipe._freqlab_noise_transform`` is :meth:`reschedule` (samplers that draw their own
          noise, FreeInit and FreqPrior, apply it);
        * on ``UNetMotionModel`` pipelines, ``prompt`` / ``negative_prompt`` may be
          ``{frame: str}`` dicts (key 0 required, keys < num_frames; batch of one video).

        Nothing else changes: no module is replaced, no weight or buffer touched.

        Raises:
            ValueError: ``windows=True`` and ``pipe`` is a diffusion-transformer pipeline (one
                message naming its classes and FreeNoise's window fusion), has no temporal
                attention (or blocks FreeNoise cannot window), or ``context_length`` exceeds
                the motion module's positional embedding length (``max_seq_length``);
                ``windows=False`` and ``pipe`` is not a pipeline; ``pipe`` has diffusers'
                FreeNoise or this FreeNoise already applied, or its noise already rescheduled
                (FreeLong's ``freenoise``). ``pipe`` is left untouched.
        """
        if not self.windows:
            return self._apply_noise(pipe)
        refuse_transformer(
            pipe,
            "FreeNoise's window fusion",
            "; FreeNoise(windows=False) reschedules the noise alone, on any pipeline",
        )
        unet = pipe_unet(pipe, "FreeNoise")
        check_not_applied(unet, _ACTIVE, "FreeNoise")
        _check_no_diffusers_freenoise(pipe)
        blocks = temporal_blocks(unet)
        if not blocks:
            raise ValueError(
                f"pipe: {type(unet).__name__} has no temporal attention FreeNoise can window "
                "(it supports UNetMotionModel and UNet3DConditionModel)"
            )
        limits = [b.positions for b in blocks if b.positions is not None]
        if limits and self.context_length > min(limits):
            raise ValueError(
                f"context_length ({self.context_length}) must be <= the motion module's "
                f"max_seq_length ({min(limits)}, its positional embedding's length)"
            )
        for b in blocks:
            if "forward" in vars(b.block):
                raise ValueError(f"pipe: {b.name}.forward is already overridden on the instance")
        undo: list[Callable[[], None]] = []
        try:
            for b in blocks:
                forward = windowed_forward(
                    b.block, self.context_length, self.context_stride, self.weighting, self.fix_tail
                )
                _set_attr(b.block, "forward", forward, undo)
            if unet is not pipe:
                self._patch_pipeline(pipe, unet, undo)
        except BaseException:
            run_undo(undo)
            raise
        _ACTIVE.add(unet)
        return FreeNoiseHandle(unet, [b.name for b in blocks], undo)

    def _apply_noise(self, pipe: Any) -> FreeNoiseHandle:
        """``windows=False``: the noise rescheduling alone, on any pipeline's noise."""
        model = pipe_denoiser(pipe)
        if model is None or model is pipe:
            raise ValueError(
                "windows=False reschedules the noise a pipeline draws: pipe must be a video "
                f"pipeline with a .unet or a .transformer, got {type(pipe).__name__}"
            )
        check_not_applied(model, _ACTIVE, "FreeNoise")
        _check_no_diffusers_freenoise(pipe)
        undo: list[Callable[[], None]] = []
        try:
            if getattr(pipe, "unet", None) is model:
                # A UNet pipeline draws as many latent frames as num_frames (checked before the
                # draw) and AnimateDiff's take per-frame prompts, as with the windows.
                self._patch_pipeline(pipe, model, undo)
            else:
                # A DiT pipeline's prepare_latents gets pixel frames (its VAE compresses time):
                # reschedule() checks the latent frames it draws.
                patch_noise(pipe, self.reschedule, undo)
        except BaseException:
            run_undo(undo)
            raise
        _ACTIVE.add(model)
        return FreeNoiseHandle(model, [], undo)

    def _patch_pipeline(self, pipe: Any, unet: torch.nn.Module, undo: list) -> None:
        travel = None
        if isinstance(unet, UNetMotionModel) and callable(getattr(pipe, "encode_prompt", None)):
            travel = _PromptTravel()
            _set_attr(pipe, "encode_prompt", _wrap_encode_prompt(pipe.encode_prompt, travel), undo)
            handle = unet.register_forward_pre_hook(_prompt_hook(travel), with_kwargs=True)
            undo.append(handle.remove)
            undo.append(travel.clear)  # drop the last call's embeddings on exit

        def before_draw(num_frames: int) -> None:
            self.check_frames(num_frames)
            if travel is not None:
                travel.build(num_frames)

        patch_noise(pipe, self.reschedule, undo, before_draw)


def _check_no_diffusers_freenoise(pipe: Any) -> None:
    if getattr(pipe, "free_noise_enabled", False):
        raise ValueError("pipe has diffusers' FreeNoise enabled; call disable_free_noise() first")


def patch_noise(
    pipe: Any,
    transform: Callable[[torch.Tensor, Any], torch.Tensor],
    undo: list[Callable[[], None]],
    before_draw: Callable[[int], None] | None = None,
) -> None:
    """Make ``pipe`` sample from ``transform(noise, generator)`` instead of its i.i.d. noise.

    * A text-to-video ``pipe.prepare_latents`` (it takes ``num_frames``, ``generator`` and
      ``latents``) is wrapped: ``before_draw(num_frames)`` runs first (checks that must fail before
      any sampling), and with ``latents=None`` it returns ``transform`` of the noise it drew,
      with the generator it drew it from (continued). ``transform`` always sees
      ``(B, C, F, h, w)``: a pipeline whose latents are laid out otherwise
      (:func:`freqlab.latents.latent_layout`, CogVideoX's ``(B, F, C, h, w)``) has them
      permuted there and back, so the frames are shuffled along its frame axis; token-packed
      latents (:func:`freqlab.latents.latent_packing`, LTX-Video's) are unpacked to the
      ``(B, C, F, h, w)`` the pipeline drew and packed again. Given latents
      are used as they are; other pipelines' ``prepare_latents`` (video-to-video: noised encoded
      frames) are left alone, and so is their noise.
    * ``pipe._freqlab_noise_transform`` (:data:`NOISE_TRANSFORM_ATTR`) is ``transform``: samplers
      that draw their own noise (FreeInit, FreqPrior) apply it.

    Every change appends the step that undoes it to ``undo``. :meth:`FreeNoise.apply` and
    :meth:`freqlab.freelong.FreeLong.apply` (FreeNoise's noise without its window fusion) use it.

    Raises:
        ValueError: ``pipe``'s noise is already transformed (two reschedulings would compound).
    """
    if NOISE_TRANSFORM_ATTR in vars(pipe):
        raise ValueError(
            "pipe's noise is already rescheduled (FreeNoise, or FreeLong's freenoise); "
            "remove() that method first"
        )
    layout, packing = latent_layout(pipe), latent_packing(pipe)
    prepare = getattr(pipe, "prepare_latents", None)
    signature = inspect.signature(prepare) if callable(prepare) else None
    # Text-to-video prepare_latents(..., num_frames, ..., generator, latents=None) draws the
    # (B, C, F, h, w) noise itself.
    if signature is not None and {"num_frames", "generator", "latents"} <= set(
        signature.parameters
    ):

        def prepare_latents(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()  # LTX's prepare_latents has defaults for every size
            arguments = bound.arguments
            num_frames = arguments.get("num_frames")
            if num_frames is not None and before_draw is not None:
                before_draw(int(num_frames))
            latents = prepare(*args, **kwargs)
            if arguments.get("latents") is None:
                # The pipeline drew i.i.d. noise (and scaled it by init_noise_sigma, which a
                # permutation commutes with); the shuffles draw from the same generator after it,
                # in diffusers' order.
                generator = arguments.get("generator")
                if packing is None:
                    noise = from_pipeline_layout(latents, layout)  # frames on axis 2
                    latents = to_pipeline_layout(transform(noise, generator), layout)
                else:
                    shape = _drawn_shape(pipe, latents, arguments)
                    noise = unpack_latents(latents, shape, *packing)
                    latents = pack_latents(transform(noise, generator), *packing)
            return latents

        _set_attr(pipe, "prepare_latents", prepare_latents, undo)
    _set_attr(pipe, NOISE_TRANSFORM_ATTR, transform, undo)


def _drawn_shape(pipe: Any, tokens: torch.Tensor, arguments: dict[str, Any]) -> tuple[int, ...]:
    """The ``(B, C, F, h, w)`` noise a token-packing pipeline's ``prepare_latents`` drew before
    packing it into ``tokens``, from its arguments (pixel sizes) and its VAE's factors, as
    LTX-Video's computes it (diffusers 0.42)."""
    factors = video_factors(pipe)
    if factors is None:
        raise ValueError(
            f"pipe: {type(pipe).__name__} packs its latents but names no VAE factors; FreeNoise "
            "cannot unpack its noise to reschedule it"
        )
    temporal, spatial = factors
    return (
        int(tokens.shape[0]),
        int(arguments["num_channels_latents"]),
        (int(arguments["num_frames"]) - 1) // temporal + 1,
        int(arguments["height"]) // spatial,
        int(arguments["width"]) // spatial,
    )
