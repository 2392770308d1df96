"""The result caches: what makes re-runs free, sweeps share work, and killed jobs resumable.

Two stores under one ``cache_dir``, each keyed by exactly what determines its content:

``passes/<key[:2]>/<key>/``: one sampling pass (FreeInit's or FreqPrior's) of one video.
    ``pass.json`` (written last, atomically) records the pass and every artifact file with its
    size and SHA-256; ``latents.safetensors`` holds the clean latent ``(C, T, h, w)`` (and, for
    FreqPrior, the latent at ``mid_step`` that the next pass re-noises);
    ``video_fps<N>.mp4`` and ``vs_pass0_fps<N>.gif`` (this pass beside pass 0 of its chain) are
    added when a job asks for videos. A pass's key hashes what determines it (:func:`pass_keys`):
    pass 0 the model, weights, scheduler, sampling arguments, FreeU, prompt, seed and its step
    count; pass k > 0 its parent's key, the refinement settings (filter, d_s, d_t, order,
    variance preservation, RNG protocol, flow sigma) and its step count. So pass k of a run
    without fast sampling is the same entry whatever ``num_iters`` is, and every filter shares
    pass 0, the plain baseline.

``metrics/<pass_key[:2]>/<pass_key>/<metric_key>.json``: one metric value of one pass,
    keyed by the metric's identity (:func:`metric_key`: column, metric, encoder, weights
    fingerprint, metric code version). A metric added to a finished sweep is computed from the
    cached latents (decoded by the VAE) with no UNet call.

Trust: a record whose files are missing, truncated or altered (size or digest mismatch) is a miss:
the pass is regenerated (a damaged video is re-encoded from the latents), and the mismatch is
logged once. Temporary files of killed writers are removed on the next visit
(:func:`freqlab.atomic.remove_stale_temp_files`).

Numerics: a pass computed in a batch of other videos and the same pass computed alone agree to
float32 rounding of batched matrix products (about 1e-4 relative on some CPUs), not bit for bit;
the cache returns whichever was computed first.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load, save

from freqlab.atomic import remove_stale_temp_files, write_atomic, write_json_atomic

__all__ = [
    "METRICS_VERSION",
    "SAMPLER_VERSION",
    "MetricCache",
    "PassCache",
    "PassRecord",
    "content_key",
    "file_digest",
    "metric_key",
    "pass_keys",
    "sample_key",
    "write_atomic",
    "write_json_atomic",
]

log = logging.getLogger(__name__)

# Bump when a change to the sampler or decoding changes results for the same settings.
SAMPLER_VERSION = "freqlab-sampler-2"
# Bump when a change to a metric's code changes its values for the same video.
METRICS_VERSION = "freqlab-metrics-1"
_RECORD = "pass.json"
_LATENTS = "latents.safetensors"


def content_key(fields: dict[str, Any]) -> str:
    """A stable 32-hex-digit hash of ``fields`` (JSON values; key order does not matter)."""
    payload = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def sample_key(fields: dict[str, Any]) -> str:
    """The key of a (configuration, prompt, seed) sample: its rows in ``results.parquet``."""
    return content_key({"version": SAMPLER_VERSION, **fields})


def pass_keys(base: dict[str, Any], refine: dict[str, Any], steps: list[int]) -> list[str]:
    """The cache key of each pass of one video, ``[key_0, ..., key_{N-1}]``.

    Args:
        base: everything that determines pass 0 except its step count (model, weights,
            scheduler, sampling arguments without ``num_inference_steps``, FreeU, prompt, seed).
        refine: the refinement settings that turn pass k - 1 into pass k (filter, d_s, d_t,
            order, variance_preserving, rng, flow_sigma); never ``num_iters`` or
            ``fast_sampling``, which act only through ``steps``.
        steps: the denoising steps of each pass.
    """
    keys = [content_key({"version": SAMPLER_VERSION, "pass": 0, "steps": steps[0], **base})]
    for k in range(1, len(steps)):
        parent = keys[-1]
        keys.append(content_key({"parent": parent, "pass": k, "steps": steps[k], **refine}))
    return keys


def file_digest(path: Path) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


def _matches(path: Path, expected: dict[str, Any]) -> bool:
    try:
        if path.stat().st_size != expected.get("size"):
            return False  # cheap check first: truncation changes the size
        return file_digest(path)["sha256"] == expected.get("sha256")
    except FileNotFoundError:
        return False


@dataclass
class PassRecord:
    """A finished pass: its ``pass.json`` plus the folder it lives in."""

    key: str
    folder: Path
    data: dict[str, Any]

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return self.data["files"]

    def has(self, name: str) -> bool:
        return name in self.files

    def path(self, name: str) -> Path:
        return self.folder / name


class PassCache:
    """The on-disk store of sampled passes, one folder per pass key (see the module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root) / "passes"
        self._warned: set[str] = set()

    def dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    def load(self, key: str) -> PassRecord | None:
        """The verified record of pass ``key``, or None (missing, partial or corrupt).

        Damaged optional files (videos) are dropped from the returned record, so they are
        re-encoded; a damaged latent makes the whole pass a miss.
        """
        folder = self.dir(key)
        remove_stale_temp_files(folder)
        try:
            data = json.loads((folder / _RECORD).read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            self._warn_once(key, f"cache: unreadable record {folder / _RECORD}: regenerating")
            return None
        files = data.get("files")
        if not isinstance(files, dict) or _LATENTS not in files:
            self._warn_once(key, f"cache: incomplete record {folder / _RECORD}: regenerating")
            return None
        damaged = [name for name, meta in files.items() if not _matches(folder / name, meta)]
        if _LATENTS in damaged:
            self._warn_once(
                key, f"cache: {folder / _LATENTS} is missing or corrupt (size/digest): regenerating"
            )
            return None
        for name in damaged:
            self._warn_once(f"{key}/{name}", f"cache: {folder / name} is damaged: re-encoding")
            del files[name]
        return PassRecord(key, folder, data)

    def latents(self, record: PassRecord, name: str = "latents") -> torch.Tensor:
        """A latent ``(C, T, h, w)`` float32 of a loaded pass: the clean ``"latents"``, or
        FreqPrior's ``"mid_latents"`` (the latent at its ``mid_step``)."""
        tensors = load(record.path(_LATENTS).read_bytes())
        if name not in tensors:
            raise KeyError(f"cache: pass {record.key} holds no {name!r} (has {sorted(tensors)})")
        return tensors[name]

    def store(
        self,
        key: str,
        latents: torch.Tensor,
        mid_latents: torch.Tensor | None = None,
        **fields: Any,
    ) -> PassRecord:
        """Store a pass's latent ``(C, T, h, w)`` (and FreqPrior's latent at ``mid_step``, which
        the next pass re-noises) and its record (written last, atomically)."""
        folder = self.dir(key)
        tensors = {"latents": latents}
        if mid_latents is not None:
            tensors["mid_latents"] = mid_latents
        data = save({k: v.detach().float().cpu().contiguous() for k, v in tensors.items()})
        write_atomic(folder / _LATENTS, data)
        record = dict(
            key=key,
            **fields,
            files={_LATENTS: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}},
            created=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        write_json_atomic(folder / _RECORD, record)
        return PassRecord(key, folder, record)

    def add_file(self, record: PassRecord, name: str) -> None:
        """Register an artifact already written (atomically) into the pass's folder.

        The record is re-read before it is rewritten, so files that a concurrent job added are
        kept; losing a race only means an artifact is re-encoded later.
        """
        path = record.path(name)
        meta = file_digest(path)
        try:
            current = json.loads((record.folder / _RECORD).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            current = record.data
        current.setdefault("files", {})[name] = meta
        record.files[name] = meta
        write_json_atomic(record.folder / _RECORD, current)


def metric_key(identity: dict[str, Any]) -> str:
    """The key of a metric's identity (column, metric, encoder, weights fingerprint, ...)."""
    return content_key({"version": METRICS_VERSION, **identity})


class MetricCache:
    """Per-pass metric values, one small JSON file per (pass, metric identity)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root) / "metrics"

    def _path(self, pass_key: str, key: str) -> Path:
        return self.root / pass_key[:2] / pass_key / f"{key}.json"

    def get(self, pass_key: str, key: str) -> float | None:
        """The cached value, or None (missing or unreadable: recomputed)."""
        path = self._path(pass_key, key)
        try:
            value = json.loads(path.read_text())["value"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, OSError):
            return None
        return float(value) if isinstance(value, (int, float)) else None

    def put(self, pass_key: str, key: str, value: float, identity: dict[str, Any]) -> None:
        path = self._path(pass_key, key)
        remove_stale_temp_files(path.parent)
        write_json_atomic(path, {"value": float(value), "identity": identity})


def to_parquet_bytes(frame: Any) -> bytes:
    """A pandas frame as parquet bytes (for :func:`write_atomic`)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
