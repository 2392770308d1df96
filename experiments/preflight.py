"""Start-up checks of a job: everything that can be known wrong before a model loads.

``python run.py`` calls :func:`check_job` before the task runs, so a bad value, a key that nothing
reads, missing or corrupt weights, or an output folder that cannot be written fails in seconds with
one message naming the key or path, instead of after minutes of sampling:

* every value (:func:`experiments.settings.resolve`: sizes against the model's rules, ranges,
  booleans, dtype);
* keys nothing reads (:func:`check_keys`): a top-level key that no config declares
  (``+freeint.d0=0.25``, Hydra's own hint for a misspelt group), and any nested key added with
  ``+`` (every key freqlab reads is declared in ``conf/``; only ``metrics.weights.<encoder>`` is an
  open mapping, checked against the encoders the selected metrics use);
* paths (:func:`check_writable`): ``paths.root``, ``paths.cache_dir`` and the run's output folder
  must be writable directories (or creatable ones) with at least :data:`MIN_FREE_BYTES` free;
* weights: the model's (found offline or downloaded, never loaded) and the metrics' (found and
  checked to be real checkpoints).

``task=plan`` only reads caches: it skips the weights checks, so a sweep can be planned on a
machine without the weights.
"""

from __future__ import annotations

import difflib
import errno
import logging
import os
import shutil
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

# experiments.settings (torch, the model registry) is imported on use: run.py checks Hydra's
# output folder with check_writable before Hydra starts, and that must stay fast.

log = logging.getLogger(__name__)

CONF = Path(__file__).resolve().parents[1] / "conf"
# Free space a job needs at start-up in each output location. A testbed job writes a few MB; a
# real model's pass is ~1 MB of latents plus its videos, so 1 GiB is hundreds of passes, and a
# disk below it would fill during a sweep. FREQLAB_MIN_FREE_MB overrides it (e.g. 0 in tests).
MIN_FREE_BYTES = 1 << 30
# Nested keys that are open mappings (their keys are not declared in conf/).
OPEN_MAPPINGS = ("metrics.weights",)


class PathError(ValueError):
    """An output folder cannot be written, or its disk is (nearly) full; names key and path."""


def min_free_bytes() -> int:
    """:data:`MIN_FREE_BYTES`, or ``FREQLAB_MIN_FREE_MB`` from the environment."""
    value = os.environ.get("FREQLAB_MIN_FREE_MB")
    if value is None:
        return MIN_FREE_BYTES
    try:
        return max(0, int(value)) << 20
    except ValueError:
        raise PathError(f"FREQLAB_MIN_FREE_MB must be an integer, got {value!r}") from None


# --------------------------------------------------------------------------- keys


@cache
def declared_top_level() -> frozenset[str]:
    """Top-level keys some config declares: config.yaml's, the config groups, and the keys the
    tasks and experiment presets (package ``_global_``) add, such as ``task`` and
    ``prompt_files``."""
    keys = {"hydra", *(p.name for p in CONF.iterdir() if p.is_dir())}
    keys |= set(OmegaConf.load(CONF / "config.yaml"))
    for preset in (*(CONF / "task").glob("*.yaml"), *(CONF / "experiment").glob("*.yaml")):
        keys |= set(OmegaConf.load(preset))
    return frozenset(keys - {"defaults"})


def _is_group(key: str) -> bool:
    return "/" in key or (CONF / key).is_dir()


def _suggest(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.8)
    return f" (did you mean {close[0]}?)" if close else ""


def added_keys(overrides: Sequence[str]) -> list[str]:
    """Config keys (not groups) that ``+key=value`` overrides add."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [
        o.key_or_group
        for o in parsed
        if o.type == OverrideType.ADD
        and not _is_group(o.key_or_group)
        and not o.key_or_group.startswith("hydra.")
    ]


def check_keys(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Refuse keys that nothing reads, in one message naming them all.

    Args:
        cfg: the composed config.
        overrides: the command line's overrides (Hydra's ``overrides.task``), to find keys added
            with ``+`` below the top level.
    """
    from experiments.settings import ConfigError

    known = declared_top_level()
    added = added_keys(overrides)
    unknown = []
    for top in (str(k) for k in cfg if k not in known):
        # name the key as the command line gave it (freeint.d0), the top level otherwise
        given = [k for k in added if k.split(".")[0] == top] or [top]
        unknown += [f"{k}{_suggest(top, sorted(known))}" for k in given]
    for key in added:
        if key.split(".")[0] not in known:
            continue  # named above
        if not any(key.startswith(f"{m}.") and key.count(".") == 2 for m in OPEN_MAPPINGS):
            group = OmegaConf.select(cfg, key.rpartition(".")[0])
            siblings = [f"{key.rpartition('.')[0]}.{k}" for k in (group or {})]
            unknown.append(f"{key}{_suggest(key, [s for s in siblings if s != key])}")
    if unknown:
        raise ConfigError(
            f"unknown config key(s), read by nothing: {', '.join(unknown)}. Every key freqlab "
            "reads is declared in conf/ and is set without '+'"
        )


# --------------------------------------------------------------------------- paths


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(path: str | os.PathLike, key: str, min_free: int | None = None) -> None:
    """``path`` is a writable directory, or can be created as one, on a disk with at least
    ``min_free`` bytes free (default :func:`min_free_bytes`); a :class:`PathError` naming
    ``key`` and the path otherwise. Nothing is created."""
    target = Path(path).expanduser().absolute()
    try:
        for part in target.parts:
            if len(os.fsencode(part)) > 255:
                raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
        base = _existing_ancestor(target)
        if not base.is_dir():
            raise OSError(errno.ENOTDIR, f"{base} is not a directory")
        if not os.access(base, os.W_OK | os.X_OK):
            read_only = os.statvfs(base).f_flag & os.ST_RDONLY
            code = errno.EROFS if read_only else errno.EACCES
            raise OSError(code, f"{os.strerror(code)} ({base})")
        free = shutil.disk_usage(base).free
    except OSError as err:
        raise PathError(f"{key}={target}: cannot write there: {err.strerror}") from None
    needed = min_free_bytes() if min_free is None else min_free
    if free < needed:
        raise PathError(
            f"{key}={target}: only {free / 2**20:.0f} MiB free on its disk, below the "
            f"{needed / 2**20:.0f} MiB a job needs at start-up (free some space or point {key} "
            "elsewhere; FREQLAB_MIN_FREE_MB sets the threshold)"
        )


def output_paths(cfg: DictConfig) -> dict[str, str]:
    """Config key -> folder the job writes to."""
    out = {}
    # train.out_dir / train_judge.out_dir exist only in their task's config (conf/task/)
    keys = ("paths.root", "paths.cache_dir", "paths.output_dir", "train.out_dir")
    for key in (*keys, "train_judge.out_dir"):
        try:
            value = OmegaConf.select(cfg, key)
        except Exception:  # ${hydra:...} outside a Hydra run
            continue
        if value is not None:
            out[key] = str(value)
    return out


# --------------------------------------------------------------------------- the job


def check_weights(cfg: DictConfig) -> None:
    """The model's weights are on this machine (downloaded now when the hub is allowed: the job
    would download them anyway, and the cache key then records their commit), and so are the
    metrics' weights, as real checkpoints. Nothing is loaded."""
    from experiments.metric_suite import MetricSuite
    from experiments.settings import config_value, resolve
    from freqlab.hub import WeightsNotFoundError
    from freqlab.models.registry import locate_weights

    settings = resolve(cfg)
    sources = {
        k: v
        for k, v in settings.load_kwargs.items()
        if k not in ("device", "dtype", "seed", "vae_slicing", "vae_tiling", "cpu_offload")
    }
    missing: list[Exception] = []
    try:
        # Offline (HF_HUB_OFFLINE=1) this only looks; online it downloads what is missing.
        locate_weights(settings.model, **sources)
    except WeightsNotFoundError as err:
        missing.append(err)
    if config_value(cfg, "task") == "generate":
        try:
            MetricSuite.from_config(cfg.metrics, device=settings.device).check_weights()
        except WeightsNotFoundError as err:  # the same class as the model's
            if not missing:
                raise
            missing.append(err)
    if len(missing) == 1:
        raise missing[0]
    if missing:  # both: one message, so that one download session fetches everything
        text = f"{missing[0]}\n\nThe metrics' weights are missing too:\n{missing[1]}"
        raise WeightsNotFoundError(text) from None


def check_job(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Every start-up check of ``cfg``'s task (see the module docstring).

    Raises:
        ConfigError: a bad value or key (the message names it).
        PathError: an output folder that cannot be written (the message names key and path).
        WeightsNotFoundError: missing model or metric weights (the message says how to get them).
    """
    from experiments.settings import config_value, int_value, resolve

    check_keys(cfg, overrides)
    task = config_value(cfg, "task")
    from experiments import wandb_logger

    wandb_logger.logger_mode(cfg)  # logger.mode and logger.init_timeout, before any work
    wandb_logger.init_timeout(cfg)
    for key, path in output_paths(cfg).items():
        check_writable(path, key)
    if task in ("generate", "plan", "snr"):
        settings = resolve(cfg)  # every value, before anything loads
        from experiments.metric_suite import MetricSuite

        if task != "snr":
            call = settings.call_kwargs
            suite = MetricSuite.from_config(cfg.metrics, device=settings.device)
            suite.check_model(settings.model)
            suite.check_video_size(call["num_frames"], call["height"], call["width"])
        if task != "plan":
            check_weights(cfg)
        if task == "generate":
            from experiments.fvd_job import check_fvd

            check_fvd(cfg, settings)
    else:
        int_value(cfg, "threads", 1, allow_none=True)
