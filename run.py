"""freqlab's main entry point: ``python run.py [overrides] [-m]`` (Hydra; configs in ``conf/``).

``task=generate`` (default) samples prompts x seeds with FreeInit (and optionally FreeU), decodes
every pass, measures it and writes ``results.parquet``; see README, "The runner".
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import hydra
from omegaconf import DictConfig

log = logging.getLogger("freqlab")

# task name -> "module:function" taking the composed config.
TASKS = {
    "generate": "experiments.generate:run_generate",
    "snr": "experiments.snr:run_snr",
    "train_testbed": "experiments.train_testbed:run_train_testbed",
}


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    if cfg.task not in TASKS:
        log.error("task must be one of %s, got %r", ", ".join(TASKS), cfg.task)
        sys.exit(2)
    module, _, function = TASKS[cfg.task].partition(":")
    try:
        getattr(importlib.import_module(module), function)(cfg)
    except (ValueError, FileNotFoundError) as err:
        # One clear message (bad config, missing weights or data) instead of a traceback from
        # deep inside torch or huggingface_hub. FREQLAB_DEBUG=1 shows the traceback.
        if os.environ.get("FREQLAB_DEBUG"):
            raise
        log.error("%s", err)
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("interrupted: finished samples are cached; re-run the same command to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
