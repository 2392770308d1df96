"""freqlab's main entry point: ``python run.py [overrides] [-m]`` (Hydra; configs in ``conf/``).

``task=generate`` (default) samples prompts x seeds with FreeInit (and optionally FreeU), decodes
every pass, measures it and writes ``results.parquet``; see README, "The runner". The other tasks
(:data:`TASKS`) are ``plan``, ``snr``, ``train_testbed`` and ``train_judge``; each is a config
group option (``conf/task/<name>.yaml``) that brings only its own groups.

Every job is checked before its task runs (:func:`experiments.preflight.check_job`: values, keys,
paths, weights), and errors the user can act on end in one message, without a traceback:
a bad config value, missing weights or data, a path that cannot be written, a full disk.
``FREQLAB_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

log = logging.getLogger("freqlab")

# task name -> "module:function" taking the composed config. Each task is also a config group
# option, conf/task/<name>.yaml, which pulls in the task's own groups and sets ``task: <name>``.
TASKS = {
    "generate": "experiments.generate:run_generate",
    "plan": "experiments.plan:run_plan",
    "snr": "experiments.snr:run_snr",
    "train_testbed": "experiments.train_testbed:run_train_testbed",
    "train_judge": "experiments.train_judge:run_train_judge",
}
# Flags after which Hydra prints and exits without creating an output folder.
_NO_RUN_FLAGS = (
    "--help",
    "-h",
    "--hydra-help",
    "--info",
    "-i",
    "--cfg",
    "-c",
    "--shell-completion",
)
_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space, or point paths.cache_dir / hydra.run.dir "
    "elsewhere, and re-run the same command (finished passes are cached)",
    errno.EDQUOT: "the disk quota is exceeded: free some space and re-run the same command",
    errno.EACCES: "permission denied: choose a folder you can write",
    errno.EPERM: "permission denied: choose a folder you can write",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.ENAMETOOLONG: "the file name is too long",
}


def os_error_message(err: OSError) -> str:
    """One line for an OSError raised during a job: the path, what went wrong, what to do."""
    path = err.filename if err.filename is not None else "a file"
    advice = _ADVICE.get(err.errno or 0, err.strerror or str(err))
    return f"cannot write {path}: {advice}"


def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not inside a Hydra run (tests calling main's body directly)
        return []


def _fail(message: str, code: int) -> None:
    log.error("%s", message)
    sys.exit(code)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    task = cfg.get("task")  # the name set by conf/task/<name>.yaml
    if task not in TASKS:
        _fail(f"task must be one of {', '.join(TASKS)}, got {task!r}", 2)
    module, _, function = TASKS[task].partition(":")
    try:
        from experiments.preflight import check_job

        check_job(cfg, _task_overrides())
        getattr(importlib.import_module(module), function)(cfg)
    except (ValueError, FileNotFoundError) as err:
        # One clear message (bad config, missing weights or data) instead of a traceback from
        # deep inside torch or huggingface_hub.
        if os.environ.get("FREQLAB_DEBUG"):
            raise
        _fail(str(err), 1)
    except OSError as err:  # a full disk, a folder made read-only during the job, ...
        if os.environ.get("FREQLAB_DEBUG"):
            raise
        _fail(os_error_message(err), 1)
    except KeyboardInterrupt:
        _fail("interrupted: finished samples are cached; re-run the same command to resume", 130)


def _static_prefix(value: str) -> str:
    """The part of a path before its first interpolation (``outputs/${task}/...`` -> outputs/)."""
    return value.split("${", 1)[0]


def check_hydra_dirs(argv: list[str]) -> str | None:
    """Hydra creates the run (or sweep) folder before any task code runs, and fails there with a
    traceback; check it first. Returns the message of the first folder that cannot be written.
    """
    if any(a in _NO_RUN_FLAGS or a.startswith("--cfg=") for a in argv):
        return None
    # Presets (experiment=...) and hydra.mode=MULTIRUN make a sweep without -m.
    multirun = any(
        a in ("-m", "--multirun") or a.startswith(("experiment=", "hydra.mode=MULTIRUN"))
        for a in argv
    )
    dirs = {"hydra.run.dir": "outputs"}
    if multirun:
        dirs["hydra.sweep.dir"] = "multirun"
    for arg in argv:
        key, sep, value = arg.lstrip("+").partition("=")
        if sep and key in dirs:
            dirs[key] = value
    from experiments.preflight import PathError, check_writable

    for key, value in dirs.items():
        path = _static_prefix(value) or "."
        try:
            check_writable(Path(path), key)
        except PathError as err:
            return str(err)
    return None


if __name__ == "__main__":
    problem = check_hydra_dirs(sys.argv[1:])
    if problem is not None:
        print(f"freqlab: {problem}", file=sys.stderr)
        sys.exit(1)
    main()
