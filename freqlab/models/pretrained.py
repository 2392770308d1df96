"""Building real pipelines from resolved weight sources: devices, dtypes, components, schedulers.

:func:`build_pipeline` loads each component of a model (see :class:`freqlab.models.weights.Component`)
from the local directory its source resolved to, builds the scheduler from the model's documented
config, and assembles the pipeline. Components are loaded one by one (not through the pipeline's
``from_pretrained``), so only the files the model needs are read, and the same code path serves a
hub snapshot, a local copy and a tiny test directory written by ``save_pretrained``.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from freqlab.models.weights import Component, ResolvedSource, WeightsNotFoundError, has_safetensors

__all__ = [
    "apply_memory_options",
    "build_pipeline",
    "build_scheduler",
    "dtype_keyword",
    "load_component",
    "parse_dtype",
    "resolve_device",
    "resolve_dtype",
]

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
    "fp64": torch.float64,
    "double": torch.float64,
}
CPU_OFFLOAD_MODES = ("model", "sequential")


# --------------------------------------------------------------------------- device and dtype


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; anything else is passed to ``torch.device``.
    A CUDA device on a machine without CUDA is refused here, not later inside torch."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda[:N]' or a torch.device, got {device!r}"
        ) from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device} but CUDA is not available; use device=cpu or auto")
    return resolved


def parse_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """A ``torch.dtype`` from itself or a name (``"fp16"``, ``"bfloat16"``, ``"torch.float32"``)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        key = dtype.strip().lower().removeprefix("torch.")
        if key in _DTYPES:
            return _DTYPES[key]
    raise ValueError(f"dtype must be a torch.dtype or one of {sorted(_DTYPES)}, got {dtype!r}")


def resolve_dtype(
    dtype: torch.dtype | str | None, device: torch.device, accelerator_dtype: torch.dtype
) -> torch.dtype:
    """The weight dtype: ``dtype`` if given, else ``accelerator_dtype`` (fp16 or bf16, per model)
    on CUDA, and float32 on CPU (half precision is slow or unsupported there)."""
    if dtype is not None:
        return parse_dtype(dtype)
    return accelerator_dtype if device.type == "cuda" else torch.float32


@functools.cache
def dtype_keyword(from_pretrained: Callable[..., Any]) -> str:
    """Which keyword sets the dtype in this ``from_pretrained``: ``"dtype"`` (diffusers >= 0.40,
    transformers >= 4.56) or ``"torch_dtype"`` (older). Read from the signature, else the source
    (both libraries take ``**kwargs`` and pop the keyword)."""
    params = inspect.signature(from_pretrained).parameters
    for name in ("dtype", "torch_dtype"):
        if name in params:
            return name
    try:
        source = inspect.getsource(from_pretrained)
    except (OSError, TypeError):
        return "torch_dtype"
    return "dtype" if re.search(r"""kwargs\.pop\(\s*["']dtype["']""", source) else "torch_dtype"


# --------------------------------------------------------------------------- classes


def _class(name: str) -> type:
    """A component, scheduler or pipeline class by name: freqlab's own, diffusers', transformers'."""
    from freqlab.models import videocrafter2

    if hasattr(videocrafter2, name):
        return getattr(videocrafter2, name)
    import diffusers

    if hasattr(diffusers, name):
        return getattr(diffusers, name)
    import transformers

    if hasattr(transformers, name):
        return getattr(transformers, name)
    raise ValueError(f"unknown class {name!r} (not in freqlab, diffusers or transformers)")


def build_scheduler(config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Any:
    """A scheduler from a diffusers-style config (``_class_name`` plus arguments).

    ``overrides`` update the config; an ``overrides["_class_name"]`` switches the class (the
    config's other entries are kept where the new class takes them, as ``from_config`` does).
    """
    merged = {**config, **(overrides or {})}
    name = merged.pop("_class_name", None)
    if not name:
        raise ValueError("scheduler config needs a _class_name, e.g. 'DDIMScheduler'")
    cls = _class(name)
    if not hasattr(cls, "from_config"):
        raise ValueError(f"scheduler _class_name {name!r} is not a diffusers scheduler")
    return cls.from_config(merged)


# --------------------------------------------------------------------------- components


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a (tensors-only) torch pickle."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return state.get("state_dict", state)


def motion_adapter_config(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """MotionAdapter arguments read off an original AnimateDiff motion-module state dict.

    Widths come from each down block's first ``proj_in``, the layers per block from the module
    indices, the mid block from its presence, the sequence length from the positional encoding;
    AnimateDiff always uses 32 norm groups and 8 heads (not stored in the weights).
    """
    widths = []
    while (
        f"down_blocks.{len(widths)}.motion_modules.0.temporal_transformer.proj_in.weight" in state
    ):
        key = f"down_blocks.{len(widths)}.motion_modules.0.temporal_transformer.proj_in.weight"
        widths.append(int(state[key].shape[1]))
    if not widths:
        raise ValueError("not an AnimateDiff motion-module checkpoint (no down_blocks.0 proj_in)")
    indices = [re.match(r"down_blocks\.0\.motion_modules\.(\d+)\.", k) for k in state]
    seq = [v.shape[1] for k, v in state.items() if k.endswith("pos_encoder.pe")]
    return dict(
        block_out_channels=tuple(widths),
        motion_layers_per_block=max(int(m.group(1)) for m in indices if m) + 1,
        motion_norm_num_groups=32,
        motion_num_attention_heads=8,
        motion_max_seq_length=int(seq[0]) if seq else 24,
        use_motion_mid_block=any(k.startswith("mid_block.") for k in state),
    )


def _load_motion_adapter_file(path: Path, dtype: torch.dtype) -> Any:
    """A MotionAdapter from an original AnimateDiff checkpoint (``mm_sd_v14.ckpt``, ...)."""
    from diffusers import MotionAdapter
    from diffusers.loaders.single_file_utils import convert_animatediff_checkpoint_to_diffusers

    state = _read_checkpoint(path)
    try:
        adapter = MotionAdapter(**motion_adapter_config(state))
    except ValueError as err:
        raise ValueError(f"adapter file {path}: {err}") from None
    missing, unexpected = adapter.load_state_dict(
        convert_animatediff_checkpoint_to_diffusers(state), strict=False
    )
    # The sinusoidal positional encodings are buffers diffusers rebuilds; nothing else may differ.
    missing = [k for k in missing if not k.endswith("pos_embed.pe")]
    if missing or unexpected:
        raise ValueError(
            f"adapter file {path} does not match a MotionAdapter: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return adapter.to(dtype)


def load_component(
    component: Component, source: ResolvedSource, dtype: torch.dtype, variant: str | None
) -> Any:
    """Load one component from a resolved (local) source, in ``dtype`` unless it pins its own."""
    cls = _class(component.cls)
    dtype = parse_dtype(component.dtype) if component.dtype else dtype
    if source.path.is_file():
        if component.cls == "MotionAdapter":
            return _load_motion_adapter_file(source.path, dtype)
        raise WeightsNotFoundError(
            f"{component.name} must be a diffusers-format directory, got the file {source.path}"
        )
    kwargs: dict[str, Any] = {"local_files_only": True}
    subfolder = source.subfolder(component)
    if subfolder:
        kwargs["subfolder"] = subfolder
    if component.kind not in ("tokenizer", "config"):  # no weights, no dtype
        kwargs[dtype_keyword(cls.from_pretrained)] = dtype
        if variant:
            kwargs["variant"] = variant
        if has_safetensors(source.path, component, subfolder or ""):
            kwargs["use_safetensors"] = True
    try:
        return cls.from_pretrained(str(source.path), **kwargs)
    except OSError as err:  # a file the check could not foresee (e.g. a broken shard index)
        raise WeightsNotFoundError(
            f"could not read {component.name} ({component.cls}) from {source.origin}: "
            f"{' '.join(str(err).split())[:400]}",
            err,
        ) from None


def _fill_config(model: Any, values: Mapping[str, Any]) -> None:
    """Set config entries that the stored config leaves null (e.g. VideoCrafter2's sample_size)."""
    for key, value in values.items():
        if getattr(model.config, key, 0) is None:
            model.register_to_config(**{key: value})
            if hasattr(model, key):
                setattr(model, key, value)


def build_pipeline(
    pipeline: str,
    roles: Mapping[str, tuple[Component, ...]],
    sources: Mapping[str, ResolvedSource],
    scheduler: Any,
    dtype: torch.dtype,
    variant: str | None,
    pipeline_kwargs: Mapping[str, Any] | None = None,
    fill_config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Any:
    """Load every component of every role and construct ``pipeline`` (a class name).

    Args:
        pipeline: e.g. ``"AnimateDiffPipeline"``.
        roles: role -> the components read from it.
        sources: role -> where it resolved to.
        scheduler: the scheduler instance.
        dtype: weight dtype of the components (those with their own ``dtype`` keep it).
        variant: weight file variant (``"fp16"``), or ``None`` for the full-precision files.
        pipeline_kwargs: further constructor arguments (e.g. ``image_encoder=None``).
        fill_config: component name -> config values to set where the stored config has null.
    """
    components = {}
    for role, parts in roles.items():
        for component in parts:
            model = load_component(component, sources[role], dtype, variant)
            _fill_config(model, (fill_config or {}).get(component.name, {}))
            components[component.name] = model
    return _class(pipeline)(**components, scheduler=scheduler, **(pipeline_kwargs or {}))


# --------------------------------------------------------------------------- memory


def apply_memory_options(
    pipe: Any,
    device: torch.device,
    *,
    vae_slicing: bool = False,
    vae_tiling: bool = False,
    cpu_offload: bool | str | None = None,
) -> Any:
    """Memory savers, then device placement.

    Args:
        vae_slicing: decode one video frame (batch element) at a time.
        vae_tiling: decode each frame in overlapping tiles (large resolutions).
        cpu_offload: ``"model"`` (or ``True``): whole components move to the GPU when used
            (``enable_model_cpu_offload``); ``"sequential"``: submodules do (slowest, least
            memory). Needs CUDA; the pipeline then stays on the CPU between calls.
    """
    vae = getattr(pipe, "vae", None)
    if vae_slicing:
        vae.enable_slicing()
    if vae_tiling:
        vae.enable_tiling()
    mode = "model" if cpu_offload is True else (cpu_offload or None)
    if mode is None:
        return pipe.to(device)
    if mode not in CPU_OFFLOAD_MODES:
        raise ValueError(
            f"cpu_offload must be False, True or one of {CPU_OFFLOAD_MODES}, got {cpu_offload!r}"
        )
    if device.type != "cuda" or not torch.cuda.is_available():
        raise ValueError(f"cpu_offload={cpu_offload!r} needs a CUDA device, got device {device}")
    gpu = device.index if device.index is not None else 0
    if mode == "model":
        pipe.enable_model_cpu_offload(gpu_id=gpu)
    else:
        pipe.enable_sequential_cpu_offload(gpu_id=gpu)
    return pipe
