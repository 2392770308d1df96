"""The handle a model-level method's ``.apply(...)`` returns: one home for "undo it exactly".

A model-level method (FreeU, FreeNoise, ByTheWay, FreeLong) changes a model in place
(hooks, instance attributes) and returns a :class:`ModelHandle`: a context manager whose exit,
or ``remove()``, undoes every change, last first, so the model is exactly as before. Each method
subclasses it to name what it changed (``FreeUHandle.targets``, ``FreeNoiseHandle.blocks``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import torch

__all__ = [
    "UNET_PIPELINES",
    "ModelHandle",
    "check_not_applied",
    "pipe_denoiser",
    "pipe_unet",
    "refuse_transformer",
    "run_undo",
]

_Handle = TypeVar("_Handle", bound="ModelHandle")

# What the UNet-only methods (FreeU, FreeNoise's window fusion, ByTheWay, FreeLong) run on, for
# their messages.
UNET_PIPELINES = "UNet video pipelines (AnimateDiff, ModelScope, ZeroScope, VideoCrafter2)"


def pipe_denoiser(pipe: Any) -> torch.nn.Module | None:
    """The network that denoises: ``pipe`` itself when it is a module, else ``pipe.unet``, else
    ``pipe.transformer`` (a diffusion-transformer pipeline: Wan, CogVideoX, ...); None if none."""
    if isinstance(pipe, torch.nn.Module):
        return pipe
    for name in ("unet", "transformer"):
        model = getattr(pipe, name, None)
        if isinstance(model, torch.nn.Module):
            return model
    return None


def _is_transformer(model: torch.nn.Module) -> bool:
    """A diffusion transformer (DiT) denoiser: patchifies its input (``config.patch_size``) and has
    no UNet decoder (``up_blocks``). diffusers' temporal transformers inside UNets have neither."""
    config = getattr(model, "config", None)
    has_patches = config is not None and "patch_size" in config
    return has_patches and not hasattr(model, "up_blocks")


def refuse_transformer(pipe: Any, method: str, hint: str = "") -> None:
    """One ValueError naming ``method`` and ``pipe``'s classes when ``pipe`` is a
    diffusion-transformer pipeline (a ``.transformer``, no ``.unet``) or such a denoiser alone:
    ``method`` acts on a UNet's blocks, which a DiT lacks. ``hint``: what to use instead."""
    model = pipe_denoiser(pipe)
    if model is None:
        return
    is_pipeline = model is not pipe
    if is_pipeline and getattr(pipe, "unet", None) is model:
        return
    if not is_pipeline and not _is_transformer(model):
        return
    if is_pipeline:
        what = f"{type(pipe).__name__}, whose denoiser {type(model).__name__} is"
    else:
        what = f"{type(model).__name__},"
    raise ValueError(
        f"{method} needs a UNet: pipe is a {what} a diffusion transformer (DiT) without one; "
        f"{method} supports {UNET_PIPELINES}{hint}"
    )


def pipe_unet(pipe: Any, method: str) -> torch.nn.Module:
    """The UNet ``method`` acts on: ``pipe.unet``, or ``pipe`` itself when it is a module; one
    ValueError naming ``method`` for a diffusion-transformer pipeline (:func:`refuse_transformer`)
    and one for anything else."""
    refuse_transformer(pipe, method)
    unet = pipe if isinstance(pipe, torch.nn.Module) else getattr(pipe, "unet", None)
    if not isinstance(unet, torch.nn.Module):
        raise ValueError(
            f"pipe must be a video pipeline with a .unet, or a UNet; got {type(pipe).__name__}"
        )
    return unet


def check_not_applied(unet: torch.nn.Module, active: Any, method: str) -> None:
    """Refuse applying ``method`` twice to one UNet (``active``: the UNets it is applied to)."""
    if unet in active:
        raise ValueError(f"pipe already has {method} applied; remove() it (leave its block) first")


def run_undo(undo: list[Callable[[], None]]) -> None:
    """Run every undo step, last first (emptying ``undo``); the first error is raised after all
    have run, so one failing step does not leave the others' changes behind."""
    error = None
    while undo:
        try:
            undo.pop()()
        except BaseException as exc:  # noqa: BLE001 - keep restoring, re-raise below
            error = error or exc
    if error is not None:
        raise error


class ModelHandle:
    """What one ``.apply(...)`` changed on ``unet``: a context manager, and ``remove()``.

    ``remove()`` undoes every change in reverse order and is idempotent; it runs on leaving the
    ``with`` block, also on an exception (which then propagates).

    Args:
        unet: the model the method was applied to.
        undo: the steps that restore it, in the order the changes were made.
        applied: the method's set of models it is on now (the method refuses a second apply on
            one of them); ``remove()`` takes ``unet`` out of it.
    """

    def __init__(
        self,
        unet: torch.nn.Module,
        undo: list[Callable[[], None]],
        applied: weakref.WeakSet[torch.nn.Module],
    ) -> None:
        self.unet = unet
        self._undo = undo
        self._applied = applied
        self._attached = True

    @property
    def active(self) -> bool:
        """Whether the changes are still in place (``remove()`` not called yet)."""
        return self._attached

    def remove(self) -> None:
        """Undo every change; the model behaves exactly as before ``.apply(...)``."""
        if not self._attached:
            return  # a second remove() must not unregister a later apply on the same model
        try:
            run_undo(self._undo)
        finally:
            self._attached = False
            self._applied.discard(self.unet)

    def _changed(self) -> str:
        """What the method changed, for ``repr`` (``"3 targets"``); subclasses name it."""
        return f"{len(self._undo)} changes"

    def __enter__(self: _Handle) -> _Handle:  # the subclass, for `with ... as handle`
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        return f"{type(self).__name__}({type(self.unet).__name__}, {self._changed()}, {state})"
