"""One ``m2h-slam`` at a time per output folder.

A command that writes an output folder holds an OS advisory lock (``flock``) on ``OUT/.m2h-slam.lock`` while it
runs; a second command into the same folder ends at once with ``OUT: in use by another m2h-slam (pid N)``. The
operating system releases the lock when the process ends in any way (a kill included), so a stale lock file never
blocks anyone; a command that ends normally removes the file. Where there are no such locks (Windows, file
systems without ``flock``) commands run unlocked, as before. One process may take the lock of a folder again while
it holds it (a run inside a data-set evaluation).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from m2h_slam.app.output_folder import check_not_input
from m2h_slam.core.atomic import file_mode
from m2h_slam.core.errors import InputError

try:
    import fcntl
except ImportError:  # not a POSIX system: no locks
    fcntl = None

LOCK_NAME = ".m2h-slam.lock"
_held: dict[Path, int] = {}  # resolved folder -> how many times this process holds its lock


def _holder(descriptor: int) -> str:
    """The pid the lock file names ("pid unknown" while the holder has not written it yet)."""
    for _ in range(20):
        text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return f"pid {text}"
        time.sleep(0.005)
    return "pid unknown"


def _acquire(out: Path) -> int | None:
    """A descriptor of the locked ``OUT/.m2h-slam.lock``; None where the file system has no locks."""
    path = out / LOCK_NAME
    for _ in range(100):  # retried only while holders that ended remove the file between our open and lock
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), file_mode())
        except OSError:  # a folder we may not write: the command's own first write names the problem
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = _holder(descriptor)
                os.close(descriptor)
                raise InputError(out, f"in use by another m2h-slam ({holder}); wait for it to end or choose "
                                      "another output folder") from None
            os.close(descriptor)
            return None  # ENOLCK, EOPNOTSUPP, ...: a file system without locks
        try:
            mine = os.stat(path)
        except FileNotFoundError:
            mine = None
        locked = os.fstat(descriptor)
        if mine is not None and (mine.st_dev, mine.st_ino) == (locked.st_dev, locked.st_ino):
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
            return descriptor
        os.close(descriptor)  # we locked a file its holder removed on leaving: take the one at the path
    return None


@contextlib.contextmanager
def output_lock(out: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                create: bool = True) -> Iterator[Path]:
    """Hold the lock of the output folder ``out`` inside the block.

    ``out`` is checked first (never an input, not a file; ``InputError``), then made (``create``; else a folder
    that does not exist is not locked); folders made here that are still empty at the end are removed again.
    ``InputError`` when another process holds the lock."""
    out = Path(out)
    check_not_input(out, inputs)
    if out.exists() and not out.is_dir():
        raise InputError(out, "output exists and is not a folder")
    made = [folder for folder in (out, *out.parents) if not folder.exists()]  # deepest first
    if made and not create:
        yield out
        return
    out.mkdir(parents=True, exist_ok=True)
    key = out.resolve()
    first = key not in _held
    descriptor = _acquire(out) if first and fcntl is not None else None
    _held[key] = _held.get(key, 0) + 1
    try:
        yield out
    finally:
        _held[key] -= 1
        if not _held[key]:
            del _held[key]
        if descriptor is not None:
            with contextlib.suppress(OSError):  # the folder went away, or is no longer ours to write
                (out / LOCK_NAME).unlink()
            os.close(descriptor)
        for folder in made:  # a command that wrote nothing leaves no empty folders behind
            try:
                folder.rmdir()
            except OSError:  # not empty (or gone): it stays, and so do the folders above it
                break
