"""Per-sample result cache: what makes re-runs free and killed sweeps resumable.

A sample (one prompt, one seed, one configuration) is stored under ``<cache_dir>/<key[:2]>/<key>/``
where ``key`` hashes everything that determines its result (:func:`sample_key`). The directory
holds the artifacts (latents, videos) and, written last and atomically, ``sample.json``: a sample
counts as done only when that file exists and parses, so a kill at any moment never leaves a
half-written result that is later read as valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

# Bump when a change to the sampler, decoding or metrics changes results for the same settings.
SAMPLER_VERSION = "freqlab-sampler-1"
_DONE = "sample.json"


def sample_key(fields: dict[str, Any]) -> str:
    """A stable hash of ``fields`` (JSON-serialisable values; key order does not matter)."""
    payload = json.dumps({"version": SAMPLER_VERSION, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON version of :func:`write_atomic`."""
    write_atomic(path, json.dumps(data, indent=2, default=str).encode())


class SampleCache:
    """The on-disk store of finished samples, one directory per key."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def load(self, key: str) -> dict[str, Any] | None:
        """The record of a finished sample, or None if it is missing or incomplete."""
        path = self.dir(key) / _DONE
        try:
            record = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        files = [self.dir(key) / f for f in record.get("files", [])]
        if not all(f.exists() for f in files):
            return None  # an artifact was deleted: regenerate rather than report dangling paths
        return record

    def store(self, key: str, record: dict[str, Any]) -> None:
        """Mark ``key`` done with ``record`` (artifacts must already be in :meth:`dir`)."""
        write_json_atomic(self.dir(key) / _DONE, record)
