"""Weights on this machine: the Hugging Face cache, offline mode, and the one error for missing
weights.

Both kinds of weights freqlab reads come through here: a video model's (``freqlab.models``,
diffusers-format repositories) and an evaluation model's (``evaluation.checkpoints``, single
checkpoint files). Whichever is missing, the error is :class:`WeightsNotFoundError`, so one
``except`` catches both. Nothing here opens a network connection.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["WeightsNotFoundError", "find_in_hub_cache", "hub_cache_dir", "hub_offline"]

_TRUE = {"1", "ON", "YES", "TRUE"}


class WeightsNotFoundError(FileNotFoundError, ValueError):
    """Weights are neither where the caller pointed nor in the Hugging Face cache (and, for a
    video model, could not be downloaded). The message names what is missing, where it looked,
    the ``hf download`` command that fetches it and the argument or config key that points at a
    local copy.

    A ``FileNotFoundError`` (a file is missing) and a ``ValueError`` (an argument names weights
    that are not there), so code catching either keeps working. The underlying exception, if
    any, is kept as :attr:`reason` (and is not chained into the traceback).
    """

    def __init__(self, message: str, reason: BaseException | None = None) -> None:
        super().__init__(message)
        self.reason = reason


def hub_offline() -> bool:
    """Whether hub downloads are disabled: ``HF_HUB_OFFLINE`` as set now (read at call time, so
    tests and notebooks can change it), else huggingface_hub's value from import time."""
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().upper() in _TRUE
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The Hugging Face hub cache: ``cache_dir``, else ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
    huggingface_hub's default (read at call time)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


def find_in_hub_cache(
    repo_id: str,
    filenames: Sequence[str],
    cache_dir: str | os.PathLike | None = None,
    revision: str | None = None,
) -> tuple[Path, str] | None:
    """The first of ``filenames`` in the local hub cache for ``repo_id`` (no network).

    Returns:
        ``(path, "repo_id/filename@commit")`` or ``None`` if none of the files is cached.
    """
    from huggingface_hub import try_to_load_from_cache

    cache = hub_cache_dir(cache_dir)
    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache, revision=revision)
        if isinstance(found, str) and Path(found).is_file():
            commit = Path(found).parent.name
            return Path(found), f"{repo_id}/{filename}@{commit[:12]}"
    return None
