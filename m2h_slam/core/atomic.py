"""Atomic file and folder writes: a reader sees the old version or the new one, never half of one.

Files are created with the user's umask (``tempfile`` alone would make them 0600), and
temporary files or folders are removed when a write fails.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

COMPLETE = "COMPLETE.json"  # last file of a finished folder: the size of every other file
TMP_PREFIX = ".m2h-tmp."  # temporary files beside their target; a killed process may leave them


def remove_stale_temporaries(folder: str | os.PathLike) -> None:
    """Delete temporary files that a killed writer left in ``folder`` (not recursive)."""
    for path in Path(folder).glob(TMP_PREFIX + "*"):
        path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new file under the current umask (0666 & ~umask)."""
    return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    The temporary file keeps the suffix of ``path`` so that writers choosing the
    format by extension (cv2, open3d) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, file_mode())
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


# -- whole folders ---------------------------------------------------------------------------------
def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_folder(folder: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Fill a new folder with ``write(tmp_folder)``, seal it (``COMPLETE.json``), then swap it in for ``folder``.

    The swap is two renames (old -> ``NAME.old``, new -> ``NAME``); a kill between them
    leaves ``NAME.old`` complete, which ``complete_folder`` finds.
    """
    folder = Path(folder)
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        sizes = {str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / COMPLETE).write_text(json.dumps(sizes, indent=0))
        _fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if folder.exists():
        if is_complete(folder) or not is_complete(old):
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        else:  # a half-written NAME beside a complete NAME.old: keep the complete one
            shutil.rmtree(folder)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def is_complete(folder: Path) -> bool:
    """True if ``folder`` holds ``COMPLETE.json`` and every file it lists, at the listed size."""
    try:
        sizes = json.loads((folder / COMPLETE).read_text())
        return all((folder / name).stat().st_size == size for name, size in sizes.items())
    except (OSError, ValueError, AttributeError):
        return False


def complete_folder(folder: str | os.PathLike) -> Path | None:
    """The complete version of an ``atomic_folder``: ``folder``, else ``folder.old``, else None."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if is_complete(candidate):
            return candidate
    return None


def remove_folder_versions(folder: str | os.PathLike) -> None:
    """Remove ``folder`` and its ``.tmp`` / ``.old`` versions."""
    folder = Path(folder)
    for suffix in ("", ".tmp", ".old"):
        shutil.rmtree(folder.with_name(folder.name + suffix), ignore_errors=True)
