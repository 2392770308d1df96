"""freqlab.atomic: atomic writes with the user's umask, and stale temp-file clean-up."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from freqlab.atomic import (
    TEMP_MARKER,
    atomic_path,
    remove_stale_temp_files,
    write_atomic,
    write_json_atomic,
)


@pytest.fixture
def umask():
    """Set a umask for one test and restore the old one."""
    old = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_mode_open_would_give(tmp_path, umask, mask, mode):
    umask(mask)
    path = write_atomic(tmp_path / "a.bin", b"data")
    assert path.read_bytes() == b"data"
    assert path.stat().st_mode & 0o777 == mode
    write_json_atomic(tmp_path / "b.json", {"x": 1})
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == mode


def test_failed_write_leaves_target_and_no_temp_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_temp_name_keeps_suffix_and_is_hidden(tmp_path):
    with atomic_path(tmp_path / "video.mp4") as tmp:
        assert tmp.name.startswith(".video.mp4" + TEMP_MARKER) and tmp.suffix == ".mp4"
        tmp.write_bytes(b"x")
    assert (tmp_path / "video.mp4").read_bytes() == b"x"


def test_writing_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "x"):
        pass
    assert not (tmp_path / "x").exists()


def test_temp_files_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    # A temp file from a process that is gone (a killed writer) and one from this live process.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    from freqlab import atomic

    stale = tmp_path / f".a.bin{TEMP_MARKER}{atomic._HOST}-{dead_pid}-abcd.bin"
    live = tmp_path / f".b.bin{TEMP_MARKER}{atomic._HOST}-{os.getpid()}-abcd.bin"
    foreign_new = tmp_path / f".c.bin{TEMP_MARKER}otherhost-1-abcd.bin"
    foreign_old = tmp_path / f".d.bin{TEMP_MARKER}otherhost-1-abcd.bin"
    keep = tmp_path / "results.bin"
    for p in (stale, live, foreign_new, foreign_old, keep):
        p.write_bytes(b"x")
    old = time.time() - 3 * 24 * 3600
    os.utime(foreign_old, (old, old))
    removed = remove_stale_temp_files(tmp_path)
    assert set(removed) == {stale, foreign_old}
    assert live.exists() and foreign_new.exists() and keep.exists()


def test_clean_up_of_missing_folder_is_a_no_op(tmp_path):
    assert remove_stale_temp_files(tmp_path / "nope") == []
