"""run.py refuses bad input before any model loads: one message naming the key or path, no
traceback (subprocesses, as a user runs it; the checks themselves are in test_settings.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], root: Path) -> tuple[int, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    env["HF_HOME"] = str(root / "hf")
    env["FREQLAB_MIN_FREE_MB"] = "0"
    out = subprocess.run(
        [sys.executable, "run.py", f"paths.root={root}", f"hydra.run.dir={root}/run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out.returncode, out.stdout + out.stderr


def test_bad_values_and_keys_fail_at_start_up(tmp_path):
    code, text = _run(["model.height=30", "+freeint.d0=0.25"], tmp_path)
    assert code == 1 and "Traceback" not in text
    # keys first: the added key is named as the command line gave it
    assert "unknown config key(s), read by nothing: freeint.d0 (did you mean freeinit?)" in text
    code, text = _run(["model.height=30"], tmp_path)
    assert code == 1 and "Traceback" not in text
    assert "model.height must be a multiple of 8 for testbed (e.g. 24 or 32), got 30" in text
    assert not (tmp_path / "cache").exists()  # nothing sampled, nothing cached


def test_unwritable_output_folders_give_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    code, text = _run([f"hydra.run.dir={afile}/run"], tmp_path)  # Hydra would make it first
    assert code == 1 and "Traceback" not in text
    assert text.strip() == (
        f"freqlab: hydra.run.dir={afile}/run: cannot write there: {afile} is not a directory"
    )
    code, text = _run([f"paths.cache_dir={afile}/cache"], tmp_path)
    assert code == 1 and "Traceback" not in text
    assert f"paths.cache_dir={afile}/cache: cannot write there" in text
