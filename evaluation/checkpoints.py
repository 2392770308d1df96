"""Evaluation models' checkpoints: finding them on this machine, offline, and loading them safely.

:func:`resolve_weights` looks in this order and never opens a network connection:

1. ``weights=`` given by the caller (a metric argument, i.e. a config value):
   ``"random"`` for seeded-free random initialisation (smoke tests only; the result's name says so),
   a checkpoint file, or a directory holding one (e.g. made by ``hf download --local-dir``).
2. the Hugging Face hub cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``, read when called), for the model's hub repository and file names;
   then any other cache file the caller names (torch hub's ``checkpoints/`` for RAFT).
3. otherwise a :class:`~freqlab.hub.WeightsNotFoundError` (the video models' error too) that
   lists where it looked, the ``hf download`` command that fills the cache, and the argument to
   point at a local file.

Nothing is downloaded, whatever ``HF_HUB_OFFLINE`` says: fetching weights is an explicit step.

:func:`load_state_dict` reads ``.safetensors`` with safetensors and everything else with
``torch.load(weights_only=True)``: checkpoints that need arbitrary pickled objects are refused, and
a file that is no checkpoint at all (random bytes, text, a truncated download) is called that. No
message ever suggests ``weights_only=False``. :func:`check_checkpoint` does the same checks without
reading the tensors, for start-up validation.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from freqlab.hub import WeightsNotFoundError, find_in_hub_cache, hub_cache_dir

__all__ = [
    "InvalidCheckpointError",
    "WeightsNotFoundError",
    "WeightsSource",
    "check_checkpoint",
    "is_torchscript_archive",
    "load_state_dict",
    "resolve_weights",
]

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
# Nested dicts that checkpoints wrap their state dict in (DINO's full checkpoints use "teacher").
_WRAPPER_KEYS = ("state_dict", "model", "teacher", "module")


class InvalidCheckpointError(ValueError):
    """A weights file is not a checkpoint that can be read as plain tensors."""


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from.

    Attributes:
        kind: ``"file"`` (given by the caller), ``"hf-cache"``, ``"cache"`` (another local cache)
            or ``"random"``.
        path: the checkpoint file (``None`` for random weights).
        detail: the hub repository and revision for ``"hf-cache"``.
    """

    kind: str
    path: Path | None = None
    detail: str = ""

    def __str__(self) -> str:
        if self.kind == "random":
            return "random"
        if self.kind == "hf-cache":
            return f"hf-cache:{self.detail}"
        return f"{self.kind}:{self.path}"


def _find_in_directory(directory: Path, filenames: Sequence[str]) -> Path | None:
    for filename in filenames:
        if (directory / filename).is_file():
            return directory / filename
    candidates = sorted(p for p in directory.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
    return candidates[0] if len(candidates) == 1 else None


def resolve_weights(
    what: str,
    weights: str | os.PathLike | None,
    *,
    hub_id: str | None = None,
    hub_filenames: Sequence[str] = (),
    cache_files: Sequence[Path] = (),
    download_hint: str | None = None,
    original: str | None = None,
    argument: str = "weights",
    alternative: str | None = None,
    cache_env: str = "HF_HUB_CACHE",
) -> WeightsSource:
    """Find a model's weights on this machine, or raise a :class:`WeightsNotFoundError`.

    Args:
        what: the model, as the error message names it (e.g. ``"encoder 'dino_vits16' (timm
            'vit_small_patch16_224.dino')"``).
        weights: the caller's choice: ``None`` (search the caches), ``"random"``, or a path to a
            checkpoint file or to a directory holding one.
        hub_id: Hugging Face repository of the weights, searched in the hub cache.
        hub_filenames: file names in that repository, in order of preference.
        cache_files: other local files to accept (e.g. torch hub's checkpoint of the same weights).
        download_hint: the command that fetches the weights (default: ``hf download ...``).
        original: the original checkpoint, also accepted as a local file (for the message).
        argument: the name of the argument that takes a local file (for the message).
        alternative: a way to run without these weights (for the message).
        cache_env: the environment variable that moves the cache (for the message).

    Returns:
        A :class:`WeightsSource`.
    """
    if isinstance(weights, str) and weights == "random":
        return WeightsSource("random")
    if weights is not None:
        path = Path(weights).expanduser()
        if path.is_dir():
            found = _find_in_directory(path, hub_filenames)
            if found is None:
                raise WeightsNotFoundError(
                    f"{argument}={str(weights)!r} for {what} is a directory without a unique "
                    f"checkpoint: expected one of {list(hub_filenames)} or a single "
                    f"{'/'.join(CHECKPOINT_SUFFIXES)} file"
                )
            return WeightsSource("file", found.resolve())
        if path.is_file():
            return WeightsSource("file", path.resolve())
        raise WeightsNotFoundError(f"{argument}={str(weights)!r} for {what}: no such file")

    looked: list[str] = []
    if hub_id is not None:
        cache = hub_cache_dir()
        found_hub = find_in_hub_cache(hub_id, hub_filenames, cache)
        if found_hub is not None:
            return WeightsSource("hf-cache", found_hub[0], found_hub[1])
        looked.append(f"the Hugging Face cache {cache}: no {hub_id} ({', '.join(hub_filenames)})")
    for file in cache_files:
        if Path(file).is_file():
            return WeightsSource("cache", Path(file).resolve())
        looked.append(f"{file}: not there")

    lines = [f"No weights for {what} on this machine (nothing is downloaded)."]
    lines += ["Looked in:"] + [f"  - {place}" for place in looked]
    lines.append("Provide them in one of these ways:")
    if download_hint is None and hub_id is not None:
        download_hint = f"hf download {hub_id} {hub_filenames[0]}" if hub_filenames else None
    step = 1
    if download_hint:
        lines.append(
            f"  {step}. fetch them into the cache where there is network access:\n"
            f"       {download_hint}\n"
            f"     (on another machine: copy the cache here, or point {cache_env} at it)"
        )
        step += 1
    source = f" or the original {original}" if original else ""
    kinds = "(.safetensors, or a tensors-only .pth/.bin), or a directory holding one"
    if "." in argument:  # a config key (metrics.weights.<encoder>)
        lines.append(
            f"  {step}. point config key `{argument}` at a local checkpoint{source}: "
            f"{argument}=/path/to/checkpoint {kinds}"
        )
    else:
        lines.append(
            f"  {step}. pass a local checkpoint{source} as the metric's `{argument}` argument "
            f"(config key `{argument}`): {argument}='/path/to/checkpoint' {kinds}"
        )
    step += 1
    if alternative:
        lines.append(f"  {step}. {alternative}")
    raise WeightsNotFoundError("\n".join(lines))


def _refused(path: Path, why: str) -> str:
    return (
        f"{path} cannot be read as plain tensors (safetensors or torch.load(weights_only=True)): "
        f"{why}. Pickled objects and TorchScript archives are refused; convert the checkpoint "
        f"where you trust it, e.g. safetensors.torch.save_file(state_dict, 'model.safetensors')"
    )


def _not_a_checkpoint(path: Path, why: str) -> InvalidCheckpointError:
    return InvalidCheckpointError(
        f"{path} is not a valid checkpoint ({why}): expected a .safetensors file or a "
        f"torch.save archive of tensors; the file may be truncated or corrupt, download it again"
    )


# A pickle starts with PROTO (0x80); torch.save's legacy (pre-1.6) format is a pickle stream.
_PICKLE_PROTO = b"\x80"


def _unpickling_problem(path: Path, err: Exception) -> ValueError:
    """torch.load's error as ours: a pickle that needs objects is refused, anything else is not
    a checkpoint. torch's own text advises weights_only=False, which is never repeated."""
    text = str(err)
    if isinstance(err, pickle.UnpicklingError) and "Unsupported global" in text:
        start = text.index("Unsupported global")
        detail = text[start:].splitlines()[0].split(". Please use")[0]
        return ValueError(_refused(path, detail))
    if isinstance(err, pickle.UnpicklingError):
        return _not_a_checkpoint(path, "its pickle stream is invalid")
    return _not_a_checkpoint(path, f"{type(err).__name__} while reading it")


def _torch_load(path: Path, mmap: bool = False) -> object:
    """``torch.load(weights_only=True)`` with our errors (see :func:`_unpickling_problem`)."""
    if is_torchscript_archive(path):
        raise ValueError(_refused(path, "it is a TorchScript archive"))
    zipped = zipfile.is_zipfile(path)
    if not zipped:
        with open(path, "rb") as f:
            head = f.read(1)
        if head != _PICKLE_PROTO:
            what = "it is empty" if not head else "neither a zip archive nor a pickle"
            raise _not_a_checkpoint(path, what)
    try:
        with warnings.catch_warnings():  # a corrupt legacy file: torch warns before it fails
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and zipped)
    except (pickle.UnpicklingError, EOFError, KeyError, RuntimeError, ValueError) as err:
        raise _unpickling_problem(path, err) from None


def check_checkpoint(path: str | os.PathLike) -> None:
    """Whether ``path`` reads as a checkpoint of tensors, cheaply: a safetensors header, or a
    ``torch.load(weights_only=True)`` that memory-maps zip archives instead of reading them.

    Raises:
        InvalidCheckpointError: the file is not a checkpoint (random bytes, text, truncated).
        ValueError: it is one, but needs pickled objects or is a TorchScript archive.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except Exception as err:  # SafetensorError (bad header), OSError
            raise _not_a_checkpoint(path, f"safetensors: {str(err).splitlines()[0]}") from None
        return
    _torch_load(path, mmap=True)


def _unwrap(obj: object) -> object:
    while isinstance(obj, dict):
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    return obj


def is_torchscript_archive(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a TorchScript archive (e.g. OpenAI's CLIP ``ViT-B-32.pt``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") for name in archive.namelist())


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors without unpickling arbitrary objects.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(map_location="cpu", weights_only=True)``. A state dict nested under
    ``state_dict``, ``model``, ``teacher`` (DINO's training checkpoints) or ``module`` is unwrapped,
    a ``module.`` prefix shared by all keys is stripped, and of a checkpoint with ``backbone.`` keys
    only the backbone is kept.

    Returns:
        name -> tensor, on the CPU.

    Raises:
        InvalidCheckpointError: the file is not a checkpoint (random bytes, text, truncated).
        ValueError: the file is a TorchScript archive or a pickle that needs more than tensors,
            or holds no tensors.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except Exception as err:  # SafetensorError: bad header, truncated data
            raise _not_a_checkpoint(path, f"safetensors: {str(err).splitlines()[0]}") from None
    else:
        state = _torch_load(path)
    state = _unwrap(state)
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{path} holds no state dict (got {type(state).__name__})")
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise ValueError(f"{path} holds no tensors")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    if any(k.startswith("backbone.") for k in state):
        # A training checkpoint (backbone + projection head): keep the backbone.
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    return state
