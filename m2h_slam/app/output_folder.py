"""Output folders of every command: never an input, never silently overwritten.

An output folder equal to, inside, or holding an input is refused. A non-empty folder is
refused unless ``--force`` is given; ``--force`` removes only the files the command itself
writes (its ``owned`` names) and leaves everything else in place: inside the frame folders of a
sequence (``rgb/``, ``depth/``, ...) only the numbered frame images (``sequence_owned``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path

from m2h_slam.core.atomic import remove_stale_temporaries
from m2h_slam.core.errors import InputError


def check_not_input(out: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """``InputError`` if ``out`` is, lies inside, or contains one of ``inputs``."""
    target = Path(out).resolve()
    for source in inputs:
        source = Path(source).resolve()
        if target == source:
            raise InputError(out, "the output would overwrite the input; choose another output folder")
        if target.is_relative_to(source):
            raise InputError(out, f"the output lies inside the input {source}; choose a folder outside it")
        if source.is_relative_to(target):
            raise InputError(out, f"the output folder holds the input {source}; choose another output folder")


#: The names a ``SequenceWriter`` gives the images in a frame folder (000123.png).
FRAME_IMAGES = tuple(f"{'[0-9]' * 6}{suffix}" for suffix in (".png", ".jpg", ".jpeg"))


def sequence_owned(names: Iterable[str]) -> tuple[str, ...]:
    """The ``owned`` patterns of a sequence folder's ``names`` (``SEQUENCE_OUTPUTS`` and more): a frame folder
    (``rgb``, ``depth``, ...) owns its numbered frame images only, not the folder with whatever else is in it."""
    from m2h_slam.sources.sequence_folder import FOLDERS

    folders = {"rgb", *FOLDERS.values()}
    return tuple(pattern for name in names
                 for pattern in ([f"{name}/{image}" for image in FRAME_IMAGES] if name in folders else [name]))


def remove_owned(out: Path, owned: Iterable[str]) -> None:
    """Remove the entries of ``out`` whose names match one of the ``owned`` patterns, and stale temporaries.

    A pattern ``FOLDER/PATTERN`` reaches into the folders matching ``FOLDER``: it removes what matches ``PATTERN``
    there, and the folder only when nothing else is left in it (a file of the user's stays, and so its folder)."""
    if not out.is_dir():
        return
    owned = tuple(owned)
    whole = [pattern for pattern in owned if "/" not in pattern]
    inside = [pattern.split("/", 1) for pattern in owned if "/" in pattern]
    for path in out.iterdir():
        if path.is_dir() and not path.is_symlink():
            deeper = [rest for folder, rest in inside if fnmatch(path.name, folder)]
            if deeper:
                remove_owned(path, deeper)
                if not any(path.iterdir()):
                    path.rmdir()
                continue
        if any(fnmatch(path.name, pattern) for pattern in whole):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    remove_stale_temporaries(out)


def folder_entries(out: Path) -> list[Path]:
    """What ``out`` holds, but the lock of a command writing there (see ``output_lock``)."""
    from m2h_slam.app.output_lock import LOCK_NAME

    return [path for path in out.iterdir() if path.name != LOCK_NAME]


def prepare_output_folder(out: str | os.PathLike, force: bool, owned: Iterable[str],
                          inputs: Iterable[str | os.PathLike] = (), hint: str = "") -> Path:
    """Check ``out`` and create it; with ``force`` first remove what the command owns there."""
    out = Path(out)
    check_not_input(out, inputs)
    if out.exists() and not out.is_dir():
        raise InputError(out, "output exists and is not a folder")
    if force:
        remove_owned(out, owned)
    elif out.is_dir() and folder_entries(out):
        raise InputError(out, f"output folder is not empty; {hint}choose another or pass --force to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    return out
