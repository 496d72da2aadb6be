"""Output folders of every command: never an input, never silently overwritten.

An output folder equal to, inside, or holding an input is refused. A non-empty folder is
refused unless ``--force`` is given; ``--force`` removes only the files the command itself
writes (its ``owned`` names) and leaves everything else in place.
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


def remove_owned(out: Path, owned: Iterable[str]) -> None:
    """Remove the entries of ``out`` whose names match one of the ``owned`` patterns, and stale temporaries."""
    if not out.is_dir():
        return
    owned = tuple(owned)
    for path in out.iterdir():
        if any(fnmatch(path.name, pattern) for pattern in owned):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    remove_stale_temporaries(out)


def prepare_output_folder(out: str | os.PathLike, force: bool, owned: Iterable[str],
                          inputs: Iterable[str | os.PathLike] = (), hint: str = "") -> Path:
    """Check ``out`` and create it; with ``force`` first remove what the command owns there."""
    out = Path(out)
    check_not_input(out, inputs)
    if out.exists() and not out.is_dir():
        raise InputError(out, "output exists and is not a folder")
    if force:
        remove_owned(out, owned)
    elif out.is_dir() and any(out.iterdir()):
        raise InputError(out, f"output folder is not empty; {hint}choose another or pass --force to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    return out
