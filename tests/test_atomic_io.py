"""Disk full, permissions, umask and orphaned temporary files."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bold5000_ae.utils import atomic_io
from bold5000_ae.utils.atomic_io import atomic_dir, atomic_path, clean_orphans
from bold5000_ae.utils.errors import InputError


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_outputs_take_the_process_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.h5") as tmp:
            tmp.write_bytes(b"x")
        with atomic_dir(tmp_path / "synthetic") as tmp:
            (tmp / "f").write_text("y")
        os.umask(0o002)
        with atomic_path(tmp_path / "b.h5") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.h5").stat().st_mode & 0o777 == 0o644  # mkstemp alone gives 0600
    assert (tmp_path / "synthetic").stat().st_mode & 0o777 == 0o755  # mkdtemp alone: 0700
    assert (tmp_path / "b.h5").stat().st_mode & 0o777 == 0o664


def test_orphans_of_dead_writers_are_removed_on_the_next_write(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getppid()
    orphan = tmp_path / f".x.h5.{dead}.abc123.tmp"
    orphan.write_bytes(b"0" * 1000)
    orphan_dir = tmp_path / f".x.h5.{dead}.def456.tmp"
    orphan_dir.mkdir()
    busy = tmp_path / f".x.h5.{alive}.ghi789.tmp"  # a live writer's file is left alone
    busy.write_bytes(b"1")
    other = tmp_path / f".y.h5.{dead}.abc123.tmp"  # another output's file too
    other.write_bytes(b"2")
    with atomic_path(tmp_path / "x.h5") as tmp:
        tmp.write_bytes(b"new")
    assert not orphan.exists() and not orphan_dir.exists()
    assert busy.exists() and other.exists() and (tmp_path / "x.h5").read_bytes() == b"new"
    assert clean_orphans(tmp_path / "x.h5") == []


def test_disk_full_mid_write_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.h5"
    target.write_bytes(b"previous")
    with pytest.raises(InputError) as err, atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(err.value) == f"{target}: no space left on device while writing; the partial " \
                             "file was removed"
    assert target.read_bytes() == b"previous" and sorted(tmp_path.iterdir()) == [target]


def test_h5py_disk_full_message_is_recognised(tmp_path: Path) -> None:
    exc = RuntimeError("Can't write data (file write failed: time = ..., errno = 28, error "
                       "message = 'No space left on device')")
    assert atomic_io.disk_error(exc) == "no space left on device"
    assert atomic_io.disk_error(RuntimeError("shape mismatch")) is None


def test_free_space_is_checked_before_a_big_write(tmp_path: Path, monkeypatch) -> None:
    free = 100 * 2**20
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda p: shutil._ntuple_diskusage(10**12, 10**12 - free, free))
    with atomic_path(tmp_path / "small.h5", expected_bytes=10 * 2**20) as tmp:
        tmp.write_bytes(b"ok")  # 10 MiB + margin fits in 100 MiB
    with pytest.raises(InputError, match=r"not enough free space: 100 MiB free, 110 MiB needed"):
        with atomic_path(tmp_path / "big.h5", expected_bytes=100 * 2**20):
            raise AssertionError("the body must not run")
    assert not (tmp_path / "big.h5").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["small.h5"]


def test_output_that_is_a_folder_is_refused_before_writing(tmp_path: Path) -> None:
    (tmp_path / "out.h5").mkdir()
    with pytest.raises(InputError, match="is an existing folder"):
        with atomic_path(tmp_path / "out.h5"):
            raise AssertionError("the body must not run")
