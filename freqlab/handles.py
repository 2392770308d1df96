"""The handle a model-level method's ``.apply(...)`` returns: one home for "undo it exactly".

A model-level method (FreeU, FreeNoise; ByTheWay and FreeLong next) changes a model in place
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

__all__ = ["ModelHandle", "check_not_applied", "pipe_unet", "run_undo"]

_Handle = TypeVar("_Handle", bound="ModelHandle")


def pipe_unet(pipe: Any) -> torch.nn.Module:
    """The UNet a model-level method acts on: ``pipe.unet``, or ``pipe`` itself when it is a
    module; one ValueError otherwise."""
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
