"""What every sampler-level method shares: driving a diffusers pipeline pass by pass.

A sampler-level method (:class:`freqlab.FreeInit`, :class:`freqlab.FreqPrior`) runs the
pipeline's own ``__call__`` once per pass with ``latents=`` and ``output_type="latent"``, so text
encoding, guidance and the scheduler loop stay the pipeline's. This module holds the parts that do
not depend on the method: reading the call's arguments and the latent shape off the pipeline
(:func:`call_parameters`, :func:`latent_shape`), the pipeline's latent layout
(:func:`latent_layout`), the two RNG protocols (:class:`NoiseSource`,
:func:`pass_seed`), counting denoiser calls (:class:`CallCounter`), and the result holding every
pass (:class:`SamplingResult`).

Latent layout: freqlab's samplers, filters and results always hold latents as ``(B, C, T, h, w)``
(channels, then latent frames, height, width; the 3D FFT runs over the last three axes). A
pipeline whose ``__call__`` takes and returns another axis order (CogVideoX: ``(B, T, C, h, w)``)
or packs latents into tokens (LTX-Video) is listed by class in :mod:`freqlab.latents`;
:class:`SamplerCall` converts at the pipeline boundary only (the latents passed in, the latents
returned) and :class:`NoiseSource` draws in the pipeline's order before converting, so pass 0
reproduces the pipeline's own noise.
"""

from __future__ import annotations

import hashlib
import inspect
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers.utils.torch_utils import randn_tensor

from freqlab.latents import (
    LATENT_LAYOUT,
    LATENT_LAYOUTS,
    check_layout,
    from_pipeline_layout,
    latent_layout,
    latent_packing,
    pack_latents,
    to_pipeline_layout,
    unpack_latents,
    video_factors,
)
from freqlab.vae import check_chunk_size, decode_latents

__all__ = [
    "LATENT_LAYOUT",
    "LATENT_LAYOUTS",
    "NOISE_TRANSFORM_ATTR",
    "OWNED_KWARGS",
    "RNG_MODES",
    "CallCounter",
    "NoiseSource",
    "PassDict",
    "SamplerCall",
    "SamplingResult",
    "UnsupportedPipelineError",
    "batch_size",
    "call_default",
    "call_parameters",
    "check_pass_index",
    "check_start",
    "decode_indices",
    "denoiser",
    "denoisers",
    "guider_guidance",
    "from_pipeline_layout",
    "latent_dtype",
    "latent_layout",
    "latent_shape",
    "pass_seed",
    "prepare_call",
    "to_pipeline_layout",
]

RNG_MODES = ("per_sample", "diffusers")
# Arguments the sampler sets on every pass; a caller's value would be silently wrong.
OWNED_KWARGS = ("latents", "output_type", "return_dict")
_UINT64 = 2**64
# A model-level method that reschedules noise (FreeNoise) sets this attribute of the pipeline to
# ``transform(noise, generator) -> noise``; samplers that pass their own ``latents=`` apply it to
# every draw (the pipeline's ``prepare_latents`` leaves given latents alone).
NOISE_TRANSFORM_ATTR = "_freqlab_noise_transform"


class UnsupportedPipelineError(ValueError):
    """The pipeline cannot be driven pass by pass (no ``latents=``/``output_type=``, no scheduler,
    or a latent layout the method's 3D FFT does not apply to). A scheduler the method cannot noise
    with raises :class:`freqlab.schedules.UnsupportedSchedulerError` (also a ValueError)."""


# --------------------------------------------------------------------------- RNG


def pass_seed(seed: int, k: int) -> int:
    """The seed of sample noise for pass ``k`` under ``rng="per_sample"``.

    Pass 0 uses the sample's own seed, so its initial noise equals what the pipeline draws from
    ``torch.Generator().manual_seed(seed)``; pass k > 0 uses a 63-bit BLAKE2b hash of
    ``(seed, k)``, so the passes' streams are unrelated and depend on nothing else.
    """
    if k == 0:
        return int(seed)
    # The "freqlab.freeinit" prefix predates this module; changing it would change every
    # per-sample stream (and orphan cached passes), so it stays.
    digest = hashlib.blake2b(f"freqlab.freeinit:{int(seed)}:{int(k)}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") >> 1


class NoiseSource:
    """All random draws of one sampler run, in one of the two :data:`RNG_MODES`."""

    def __init__(
        self,
        mode: str,
        generator: Any,
        batch: int,
        transform: Callable[[torch.Tensor, Any], torch.Tensor] | None = None,
        layout: str = LATENT_LAYOUT,
    ) -> None:
        """``transform`` (e.g. FreeNoise's rescheduling, :data:`NOISE_TRANSFORM_ATTR`) is applied
        to every draw, with the generator(s) the draw came from, continued. ``layout`` is the
        pipeline's latent layout (:func:`latent_layout`): every draw is made in that axis order,
        as the pipeline's ``prepare_latents`` draws, and returned as ``(B, C, T, h, w)``."""
        check_layout(layout)
        self.mode = mode
        self.transform = transform
        self.layout = layout
        if generator is None:
            generator = torch.Generator().manual_seed(secrets.randbits(63))
        if isinstance(generator, torch.Generator):
            gens = [generator]
        elif isinstance(generator, (list, tuple)) and all(
            isinstance(g, torch.Generator) for g in generator
        ):
            gens = list(generator)
        else:
            raise ValueError(
                f"generator must be a torch.Generator or a list of them, got {type(generator).__name__}"
            )
        if not isinstance(generator, torch.Generator) and len(gens) != batch:
            raise ValueError(
                f"generator is a list of {len(gens)} generators, but the batch has {batch} videos "
                "(prompts x num_videos_per_prompt)"
            )
        if mode == "diffusers":
            # The caller's generator(s), consumed in diffusers' order.
            self.generator = gens[0] if isinstance(generator, torch.Generator) else gens
            self.seeds = [g.initial_seed() for g in gens]
        else:
            # A single generator seeds sample i with seed + i (mod 2^64).
            if isinstance(generator, torch.Generator):
                self.seeds = [(gens[0].initial_seed() + i) % _UINT64 for i in range(batch)]
            else:
                self.seeds = [g.initial_seed() for g in gens]
            self.device = gens[0].device
        self._pass_gens: list[torch.Generator] | None = None

    def _gens(self, k: int) -> list[torch.Generator]:
        gens = [
            torch.Generator(device=self.device).manual_seed(pass_seed(s, k)) for s in self.seeds
        ]
        self._pass_gens = gens
        return gens

    def _draw(self, gen: Any, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype):
        # ``shape`` is (B, C, T, h, w); the draw follows the pipeline's axis order, so the same
        # generator gives the pipeline's own noise (randn fills memory in order).
        drawn = randn_tensor(
            to_pipeline_layout(shape, self.layout), generator=gen, device=device, dtype=dtype
        )
        noise = from_pipeline_layout(drawn, self.layout)
        return noise if self.transform is None else self.transform(noise, gen)

    def initial(self, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> Any:
        """The initial noise eps, drawn as the pipeline's ``prepare_latents`` would."""
        gen = self.generator if self.mode == "diffusers" else self._gens(0)
        return self._draw(gen, shape, device, dtype)

    def fresh(self, k: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Pass k's high-frequency noise, float32 as diffusers' ``_apply_free_init``."""
        return self.fresh_many(k, shape, device, 1)[0]

    def fresh_many(
        self, k: int, shape: tuple[int, ...], device: torch.device, count: int
    ) -> list[torch.Tensor]:
        """``count`` float32 draws for pass k, one after the other from the same stream(s)
        (``per_sample``: pass k's generators, seeded once; ``diffusers``: the caller's)."""
        gen = self.generator if self.mode == "diffusers" else self._gens(k)
        return [self._draw(gen, shape, device, torch.float32) for _ in range(count)]

    def pipe_generator(self) -> Any:
        """What the pipeline gets as ``generator=`` (scheduler noise, e.g. DDIM eta > 0): the
        caller's under ``diffusers``, the pass's per-sample generators (continued) otherwise."""
        return self.generator if self.mode == "diffusers" else self._pass_gens


# --------------------------------------------------------------------------- result


class PassDict(dict):
    """``dict`` of pass index -> tensor that also accepts negative indices (``videos[-1]``).

    Keys are absolute pass indices; a negative index counts back from ``stop`` (one past the last
    pass), as in a list of every pass.
    """

    def __init__(self, stop: int) -> None:
        super().__init__()
        self.stop = stop

    def _key(self, k: int) -> int:
        return k + self.stop if isinstance(k, int) and k < 0 else k

    def __getitem__(self, k: int) -> torch.Tensor:
        return super().__getitem__(self._key(k))

    def __contains__(self, k: object) -> bool:
        return super().__contains__(self._key(k))


@dataclass
class SamplingResult:
    """Everything one run of a sampler-level method (FreeInit, FreqPrior) produced.

    A run started at pass ``first_pass`` > 0 (resumed from a cached latent, see
    the sampler's ``__call__``) holds only the passes it computed: list entry ``i`` is pass
    ``first_pass + i``. :attr:`passes` lists the absolute pass indices.

    Every latent here is in freqlab's ``(B, C, T, h, w)`` layout, whatever the pipeline's own
    (CogVideoX's ``(B, T, C, h, w)`` is converted at the pipeline boundary, :func:`latent_layout`).

    Attributes:
        latents: clean latents ``(B, C, T, h, w)``, one per sampling pass; ``latents[0]`` is the
            plain baseline (for ``first_pass == 0``), ``latents[-1]`` the method's result.
        pass_inputs: the latent each pass started from ``(B, C, T, h, w)``, in unit-variance
            units (before the pipeline's ``init_noise_sigma``); for ``first_pass == 0``,
            ``pass_inputs[0]`` is the initial noise.
        steps: denoising steps of each pass.
        unet_calls: denoiser forward calls of each pass (one call covers both CFG halves).
        lpf: the low-pass filter used, ``(1, C, T, h, w)`` float32, fftshifted layout.
        seeds: per-video seeds (``per_sample``), or the generators' initial seeds (``diffusers``).
        seconds: wall time of each pass.
        config: the method's settings (constructor arguments).
        noising: how refinements were noised (:func:`noising_rule`: ``"add_noise"``,
            ``"alphas_cumprod"`` or ``"flow"``).
        videos: decoded frames ``(B, T, C, H, W)`` float in [0, 1], by absolute pass index
            (negative indices work); only the passes asked for with ``decode=`` or
            :meth:`decode`.
        first_pass: the index of the first pass held (0 unless resumed).
        eps: the initial noise ``(B, C, T, h, w)`` that every refinement re-noises with.
    """

    latents: list[torch.Tensor]
    pass_inputs: list[torch.Tensor]
    steps: list[int]
    unet_calls: list[int]
    lpf: torch.Tensor
    seeds: list[int]
    seconds: list[float]
    config: dict[str, Any]
    noising: str
    videos: PassDict = field(default_factory=lambda: PassDict(0))
    first_pass: int = 0
    eps: torch.Tensor | None = None

    @property
    def num_passes(self) -> int:
        """Passes held by this result (all of them unless resumed)."""
        return len(self.latents)

    @property
    def passes(self) -> range:
        """The absolute indices of the passes held."""
        return range(self.first_pass, self.first_pass + len(self.latents))

    @property
    def initial_noise(self) -> torch.Tensor:
        """The initial noise eps ``(B, C, T, h, w)``, reused by every refinement."""
        return self.eps if self.eps is not None else self.pass_inputs[0]

    @property
    def baseline(self) -> torch.Tensor:
        """Clean latents of pass 0 (plain sampling)."""
        if self.first_pass != 0:
            raise ValueError(f"this run resumed at pass {self.first_pass}: it holds no pass 0")
        return self.latents[0]

    @property
    def final(self) -> torch.Tensor:
        """Clean latents of the last pass (the method's result)."""
        return self.latents[-1]

    @property
    def total_unet_calls(self) -> int:
        return sum(self.unet_calls)

    def decode(self, pipe: Any, k: int = -1, chunk_size: int = 16) -> torch.Tensor:
        """Decode pass ``k`` (cached in :attr:`videos`): ``(B, T, C, H, W)`` float in [0, 1]."""
        index = check_pass_index(k, self.passes)
        if index not in self.videos:
            self.videos[index] = decode_latents(
                pipe, self.latents[index - self.first_pass], chunk_size
            )
        return self.videos[index]


def check_pass_index(k: object, passes: range) -> int:
    stop = passes.stop
    valid = not isinstance(k, bool) and isinstance(k, int)
    index = (k + stop if k < 0 else k) if valid else None
    if index is None or index not in passes:
        raise ValueError(
            f"decode: pass index must be an int in [{passes.start}, {stop}) or "
            f"[-{len(passes)}, -1], got {k!r}"
        )
    return index


def decode_indices(decode: Any, passes: range) -> list[int]:
    """Normalise ``decode=`` (None, "all", an int or a sequence of ints) to sorted pass indices."""
    if decode is None:
        return []
    if isinstance(decode, str):
        if decode != "all":
            raise ValueError(
                f"decode must be None, 'all', an int or a sequence of ints, got {decode!r}"
            )
        return list(passes)
    items: Iterable[Any] = decode if isinstance(decode, Sequence) else [decode]
    return sorted({check_pass_index(k, passes) for k in items})


# --------------------------------------------------------------------------- pipeline adapters


def call_parameters(pipe: Any) -> dict[str, inspect.Parameter]:
    params = inspect.signature(pipe).parameters if callable(pipe) else {}
    missing = [p for p in ("latents", "output_type") if p not in params]
    if missing:
        raise UnsupportedPipelineError(
            f"pipeline {type(pipe).__name__} does not take {' and '.join(missing)}= in __call__"
        )
    if getattr(pipe, "scheduler", None) is None:
        raise UnsupportedPipelineError(f"pipeline {type(pipe).__name__} has no scheduler")
    return params


def call_default(params: dict[str, inspect.Parameter], name: str, kwargs: dict[str, Any]) -> Any:
    if name in kwargs:
        return kwargs[name]
    param = params.get(name)
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def batch_size(params: dict[str, inspect.Parameter], kwargs: dict[str, Any]) -> int:
    """Videos per call: prompts (or ``prompt_embeds`` rows) x ``num_videos_per_prompt``."""
    prompt = kwargs.get("prompt")
    if isinstance(prompt, (list, tuple)):
        prompts = len(prompt)
    elif prompt is not None:
        prompts = 1
    elif isinstance(kwargs.get("prompt_embeds"), torch.Tensor):
        prompts = kwargs["prompt_embeds"].shape[0]
    else:
        raise ValueError("pass prompt= (or prompt_embeds=) to the pipeline call")
    per_prompt = call_default(params, "num_videos_per_prompt", kwargs) or 1
    return prompts * int(per_prompt)


def denoiser(pipe: Any) -> torch.nn.Module | None:
    """The pipeline's denoiser (``unet``, else ``transformer``), or None."""
    found = denoisers(pipe)
    return found[0] if found else None


def denoisers(pipe: Any) -> list[torch.nn.Module]:
    """Every denoiser the pipeline calls: ``unet`` or ``transformer``, and ``transformer_2``
    (Wan 2.2 A14B's low-noise expert) when it has one."""
    found = []
    for name in ("unet", "transformer", "transformer_2"):
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module) and not (name == "transformer" and found):
            found.append(module)
    return found


def latent_shape(
    pipe: Any, params: dict[str, inspect.Parameter], kwargs: dict[str, Any], batch: int
) -> tuple[int, int, int, int, int]:
    """``(B, C, T, h, w)``: the latents the pipeline's ``prepare_latents`` builds, in freqlab's
    layout (the pipeline's own order is :func:`latent_layout`; CogVideoX's is ``(B, T, C, h, w)``).

    UNet pipelines (AnimateDiff, TextToVideoSD): ``C = unet.config.in_channels``, ``T`` frames,
    spatial size ``// vae_scale_factor`` (height/width default to ``sample_size *
    vae_scale_factor``). Transformer pipelines with a temporally compressing VAE (Wan, CogVideoX,
    LTX-Video, Mochi, HunyuanVideo 1.5: :func:`freqlab.latents.video_factors`): ``T = (frames -
    1) // temporal + 1``, ``C`` the noise's channels (LTX-Video's before packing). Mochi defaults
    height/width to its ``default_height``/``default_width``; CogVideoX defaults
    num_frames/height/width to its transformer's ``sample_frames`` / ``sample_height * spatial``
    / ``sample_width * spatial`` and, with a temporal patch (CogVideoX 1.5's ``patch_size_t``),
    pads ``T`` to a multiple of it as its ``__call__`` does.
    """
    num_frames = call_default(params, "num_frames", kwargs)
    height = call_default(params, "height", kwargs)
    width = call_default(params, "width", kwargs)
    unet = getattr(pipe, "unet", None)
    name = type(pipe).__name__
    if isinstance(unet, torch.nn.Module) and hasattr(pipe, "vae_scale_factor"):
        scale = pipe.vae_scale_factor
        sample_size = unet.config.sample_size
        if sample_size is None and (height is None or width is None):
            raise ValueError(
                f"pass height= and width=: the UNet of {name} has no default sample_size"
            )
        if sample_size is not None:  # the pipelines' default resolution
            height = height or sample_size * scale
            width = width or sample_size * scale
        channels, frames = unet.config.in_channels, num_frames
    elif video_factors(pipe) is not None:
        temporal, scale = video_factors(pipe)
        model = denoiser(pipe)
        patch_t = None
        if model is not None and latent_layout(pipe) != LATENT_LAYOUT:
            # CogVideoXPipeline.__call__'s defaults (its only pipeline with another layout today).
            config = model.config
            if getattr(config, "sample_frames", None) is not None:
                num_frames = num_frames or config.sample_frames
            if getattr(config, "sample_height", None) is not None:
                height = height or config.sample_height * scale
            if getattr(config, "sample_width", None) is not None:
                width = width or config.sample_width * scale
            patch_t = getattr(config, "patch_size_t", None)
        # MochiPipeline's height/width default to its default_height/default_width.
        height = height or getattr(pipe, "default_height", None)
        width = width or getattr(pipe, "default_width", None)
        if model is None or num_frames is None or height is None or width is None:
            raise UnsupportedPipelineError(f"cannot infer the latent shape of pipeline {name}")
        channels = _latent_channels(pipe, model)
        frames = (int(num_frames) - 1) // temporal + 1
        if patch_t and frames % patch_t:  # CogVideoX 1.5 pads the latent frames it samples
            frames += patch_t - frames % patch_t
    else:
        raise UnsupportedPipelineError(
            f"cannot infer the latent shape of pipeline {name} (needs a UNet with vae_scale_factor, "
            "or a video VAE's temporal and spatial factors: freqlab.latents.video_factors)"
        )
    if frames is None:
        raise ValueError("pass num_frames= to the pipeline call")
    return (batch, int(channels), int(frames), int(height) // scale, int(width) // scale)


def _latent_channels(pipe: Any, model: torch.nn.Module) -> int:
    """The channels of the noise a transformer pipeline draws: its ``num_channels_latents`` where
    it sets one (HunyuanVideo 1.5, whose transformer also takes condition channels), else the
    transformer's ``in_channels``, divided by the patch volume for token-packed latents (LTX)."""
    if getattr(pipe, "num_channels_latents", None) is not None:
        return int(pipe.num_channels_latents)
    channels = int(model.config.in_channels)
    packing = latent_packing(pipe)
    if packing is not None:
        patch, patch_t = packing
        channels //= patch * patch * patch_t
    return channels


# Pipeline class name -> the component whose dtype its prepare_latents draws noise in, where that
# is not float32 (transformer pipelines) or the text encoder's (UNet pipelines): CogVideoX draws
# in prompt_embeds.dtype (the T5's), HunyuanVideo 1.5 in its transformer's (diffusers 0.42).
_NOISE_DTYPE_OF = {"CogVideoXPipeline": "text_encoder", "HunyuanVideo15Pipeline": "transformer"}


def latent_dtype(pipe: Any) -> torch.dtype:
    """The dtype the pipeline draws its own noise in: the prompt embeddings' (text encoder, else
    UNet) for UNet pipelines, :data:`_NOISE_DTYPE_OF`'s component for CogVideoX and HunyuanVideo
    1.5, float32 for the other transformer pipelines (Wan, LTX-Video, Mochi)."""
    if getattr(pipe, "unet", None) is None:
        for cls in type(pipe).__mro__:
            module = getattr(pipe, _NOISE_DTYPE_OF.get(cls.__name__, ""), None)
            if isinstance(module, torch.nn.Module):
                return module.dtype
        return torch.float32
    encoder = getattr(pipe, "text_encoder", None)
    return (encoder if encoder is not None else pipe.unet).dtype


def guider_guidance(pipe: Any, params: dict[str, inspect.Parameter], kwargs: dict[str, Any]) -> Any:
    """``kwargs["guidance_scale"]``, popped, for a pipeline that takes its guidance scale from a
    ``guider`` component instead of a call argument (HunyuanVideo 1.5's ClassifierFreeGuidance);
    None (kwargs untouched) otherwise. The samplers take ``guidance_scale`` for every pipeline."""
    guider = getattr(pipe, "guider", None)
    if "guidance_scale" in params or "guidance_scale" not in kwargs or guider is None:
        return None
    if "guidance_scale" not in getattr(guider, "config", {}):
        return None
    return kwargs.pop("guidance_scale")


class CallCounter:
    """Counts forward calls of a module (or of several, e.g. both experts of a two-expert
    pipeline, :func:`denoisers`) with pre-hooks, removed on exit."""

    def __init__(self, module: torch.nn.Module | list[torch.nn.Module] | None) -> None:
        modules = module if isinstance(module, list) else [] if module is None else [module]
        self.modules: list[torch.nn.Module] = modules
        self.module = modules[0] if modules else None  # the first (the only one, mostly)
        self.count, self._handles = 0, []

    def __enter__(self) -> CallCounter:
        self._handles = [m.register_forward_pre_hook(self._hook) for m in self.modules]
        return self

    def _hook(self, module: torch.nn.Module, args: Any) -> None:
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def check_start(start_pass: object, previous: object, num_iters: int, rng: str) -> None:
    """Validate ``start_pass``/``previous`` of the sampler's ``__call__``."""
    if isinstance(start_pass, bool) or not isinstance(start_pass, int):
        raise ValueError(f"start_pass must be an int, got {start_pass!r}")
    if not 0 <= start_pass < num_iters:
        raise ValueError(f"start_pass must be in [0, num_iters={num_iters}), got {start_pass}")
    if start_pass == 0:
        if previous is not None:
            raise ValueError("previous is only used with start_pass > 0")
        return
    if rng != "per_sample":
        raise ValueError(
            f"start_pass > 0 needs rng='per_sample' (got rng={rng!r}): the diffusers protocol "
            "draws every pass from one generator stream, which a stored latent cannot resume"
        )
    if not isinstance(previous, torch.Tensor):
        raise ValueError(
            f"start_pass={start_pass} needs previous=, the clean latents of pass {start_pass - 1}"
        )


# --------------------------------------------------------------------------- one sampler call


@dataclass
class SamplerCall:
    """What a sampler's ``__call__`` reads off the pipeline and its arguments, checked before
    any sampling (:func:`prepare_call`).

    Attributes:
        kwargs: the caller's pipeline arguments without ``num_inference_steps`` and
            ``generator`` (the sampler sets both on every pass).
        num_inference_steps: the call's (or the pipeline's default) step count.
        noise: the run's draws (the caller's generator, the RNG protocol, FreeNoise's
            rescheduling when it is applied to the pipeline).
        shape: the latents' ``(B, C, T, h, w)``.
        passes: the passes to run; ``decode_at`` the ones to decode after sampling.
        layout: the pipeline's latent layout (:func:`latent_layout`) and ``packing`` its token
            packing (:func:`freqlab.latents.latent_packing`, LTX-Video's); :meth:`run_pass`
            converts to them and back, so the sampler sees ``(B, C, T, h, w)`` only.
    """

    pipe: Any
    kwargs: dict[str, Any]
    num_inference_steps: int
    noise: NoiseSource
    shape: tuple[int, int, int, int, int]
    device: torch.device
    passes: range
    decode_at: list[int]
    layout: str = LATENT_LAYOUT
    packing: tuple[int, int] | None = None
    guidance: float | None = None  # set on the pipeline's guider for each pass (guider_guidance)

    def to_pipeline(self, latents: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, h, w)`` -> what the pipeline takes as ``latents=`` (a new tensor)."""
        x = to_pipeline_layout(latents, self.layout)
        if self.packing is not None:
            x = pack_latents(x, *self.packing)
        return x.clone()

    def check_previous(
        self, previous: torch.Tensor | None, what: str, dtype: torch.dtype
    ) -> torch.Tensor | None:
        """``previous`` (what pass ``passes.start`` continues from) on the device, or None."""
        if previous is None:
            return None
        if tuple(previous.shape) != self.shape:
            raise ValueError(
                f"previous must be {what} of pass {self.passes.start - 1} with shape "
                f"{self.shape}, got {tuple(previous.shape)}"
            )
        return previous.to(device=self.device, dtype=dtype)

    def run_pass(self, latents: torch.Tensor, num_inference_steps: int) -> Any:
        """One ordinary pipeline call from ``latents`` ``(B, C, T, h, w)`` (passed as a copy in the
        pipeline's layout: the caller's stay intact whatever the pipeline does), returning the
        pipeline's latents unchecked, converted back to ``(B, C, T, h, w)`` when they are a 5-dim
        tensor."""
        guider = getattr(self.pipe, "guider", None)
        if self.guidance is not None:  # a copy with the call's scale, the pipeline's restored
            self.pipe.guider = guider.new(guidance_scale=self.guidance)
        try:
            out = self.pipe(
                **self.kwargs,
                latents=self.to_pipeline(latents),
                num_inference_steps=num_inference_steps,
                generator=self.noise.pipe_generator(),
                output_type="latent",
                return_dict=False,
            )[0]
        finally:
            if self.guidance is not None:
                self.pipe.guider = guider
        return self.to_canonical(out)

    def to_canonical(self, latents: Any) -> Any:
        """A latent the pipeline produced (its output, or one captured mid-loop), in its own
        layout (or packing) -> ``(B, C, T, h, w)``; anything else is returned as it is."""
        if not isinstance(latents, torch.Tensor):
            return latents
        if self.packing is not None and latents.dim() == 3:
            return unpack_latents(
                latents, to_pipeline_layout(self.shape, self.layout), *self.packing
            )
        if latents.dim() == 5:
            return from_pipeline_layout(latents, self.layout)
        return latents

    def check_output(self, out: Any) -> torch.Tensor:
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != self.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise UnsupportedPipelineError(
                f"pipeline {type(self.pipe).__name__} returned latents {got}, expected {self.shape}"
            )
        return out


def prepare_call(
    method: str,
    pipe: Any,
    call_kwargs: dict[str, Any],
    *,
    rng: str,
    num_iters: int,
    start_pass: int,
    previous: object,
    on_pass: object,
    decode: Any,
    decode_chunk: int,
) -> SamplerCall:
    """The checks every sampler-level method (named ``method`` in messages) makes before
    sampling, and what it reads off ``pipe``: see :class:`SamplerCall`."""
    params = call_parameters(pipe)
    owned = [k for k in OWNED_KWARGS if k in call_kwargs]
    if owned:
        raise ValueError(
            f"{', '.join(owned)} cannot be passed: {method} sets the latents of every pass and "
            "returns latents (decode them with decode= or result.decode)"
        )
    if "timesteps" in call_kwargs or "sigmas" in call_kwargs:
        raise ValueError(f"timesteps/sigmas cannot be passed: {method} sets num_inference_steps")
    if getattr(pipe, "free_init_enabled", False):
        raise ValueError("diffusers' FreeInit is enabled on pipe: call pipe.disable_free_init()")
    check_start(start_pass, previous, num_iters, rng)
    if on_pass is not None and not callable(on_pass):
        raise ValueError(f"on_pass must be callable, got {type(on_pass).__name__}")
    passes = range(start_pass, num_iters)
    decode_at = decode_indices(decode, passes)
    check_chunk_size(decode_chunk)
    kwargs = dict(call_kwargs)
    num_steps = call_default(params, "num_inference_steps", kwargs)
    kwargs.pop("num_inference_steps", None)
    batch = batch_size(params, kwargs)
    guidance = guider_guidance(pipe, params, kwargs)
    # FreeNoise (applied to pipe) reschedules the initial noise and every pass's fresh noise.
    transform = getattr(pipe, NOISE_TRANSFORM_ATTR, None)
    layout = latent_layout(pipe)
    noise = NoiseSource(rng, kwargs.pop("generator", None), batch, transform, layout)
    shape = latent_shape(pipe, params, kwargs, batch)
    return SamplerCall(
        pipe,
        kwargs,
        num_steps,
        noise,
        shape,
        pipe._execution_device,
        passes,
        decode_at,
        layout,
        latent_packing(pipe),
        guidance,
    )
