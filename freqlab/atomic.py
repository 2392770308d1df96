"""Atomic file writes that respect the user's umask, and clean-up of what a kill leaves behind.

A file written here appears under its final name only once complete: it is written to a hidden
temporary name in the same folder, flushed, given the mode a plain ``open()`` would have given it
(``0o666`` less the umask; :func:`tempfile.mkstemp` alone would leave it ``0o600``, unreadable to
colleagues sharing a cache), and renamed over the target. A kill or a full disk can leave the
temporary file behind; its name records the host and process that wrote it, so
:func:`remove_stale_temp_files` can delete it on the next visit without touching a file that
another live process is still writing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "TEMP_MARKER",
    "atomic_path",
    "remove_stale_temp_files",
    "umask_mode",
    "write_atomic",
    "write_json_atomic",
]

TEMP_MARKER = ".tmp-"
# A temp file from another host (shared file system) is removed only when older than this.
_FOREIGN_MAX_AGE_S = 24 * 3600
_HOST = socket.gethostname().replace("-", "_") or "host"


def umask_mode(base: int = 0o666) -> int:
    """``base`` less the process's current umask: the mode ``open()`` gives a new file."""
    mask = os.umask(0)  # the only portable way to read it; restored at once
    os.umask(mask)
    return base & ~mask


def _temp_name(path: Path) -> Path:
    # .<name>.tmp-<host>-<pid>-<random><suffix>: hidden, traceable to its writer, and keeping the
    # suffix so that writers choosing a format from the extension (video encoders) still can.
    tag = f"{TEMP_MARKER}{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.name}{tag}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path`` (umask mode).

    The caller writes the temporary file by any means (an encoder, ``save_file``, ...). On an
    exception the temporary file is removed and the exception propagates; ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} for {path}")
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring); return ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return path


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """JSON version of :func:`write_atomic` (indented; non-JSON values written with ``str``)."""
    return write_atomic(path, json.dumps(data, indent=2, default=str).encode())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_stale(tmp: Path, now: float) -> bool:
    tag = tmp.name.split(TEMP_MARKER, 1)[1]
    host, _, rest = tag.partition("-")
    pid_text = rest.partition("-")[0]
    if host == _HOST and pid_text.isdigit():
        return int(pid_text) != os.getpid() and not _pid_alive(int(pid_text))
    try:
        return now - tmp.stat().st_mtime > _FOREIGN_MAX_AGE_S
    except FileNotFoundError:
        return False


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete temporary files in ``folder`` left by writers that are gone; return them.

    A temp file is stale when the process named in it is dead on this host, or, for files from
    another host or with names written before this scheme, when it is older than a day.
    """
    folder = Path(folder)
    removed = []
    now = time.time()
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for tmp in candidates:
        if TEMP_MARKER in tmp.name:
            stale = _is_stale(tmp, now)
        else:  # an older writer's ".<name>.<random>" temp file
            try:
                stale = tmp.is_file() and now - tmp.stat().st_mtime > _FOREIGN_MAX_AGE_S
            except FileNotFoundError:
                stale = False
        if stale:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed
