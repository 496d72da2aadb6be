"""Errors that reach the user as one line."""

from __future__ import annotations

import os
import re

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without terminal colour codes (Open3D puts them in its messages)."""
    return _ANSI.sub("", text)


class M2HError(Exception):
    """Base class of the errors this project raises on purpose."""


class InputError(M2HError):
    """A problem with something the user gave us; the message names the file.

    The CLI prints ``str(error)`` as one line and exits with status 2.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if self.path is None else f"{self.path}: {problem}")


def require_file(path: str | os.PathLike, what: str) -> None:
    """``InputError`` naming ``path`` unless it is an existing file (``what``: e.g. "weights")."""
    if os.path.isdir(path):
        raise InputError(path, f"is a folder; expected a {what} file")
    if not os.path.isfile(path):
        raise InputError(path, f"{what} file not found")


def read_text(path: str | os.PathLike, what: str) -> str:
    """The UTF-8 text of the file ``path``; ``InputError`` naming it when it is missing or not text (``what``:
    e.g. "trajectory", for the message)."""
    require_file(path, what)
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except UnicodeDecodeError as error:
        raise InputError(path, f"not a text file (byte {error.start} is not UTF-8); expected a {what} file") from None


class RunError(M2HError):
    """A run that failed for a reason other than the user's input; the message says what was kept.

    The CLI prints it as one line and exits with status 1.
    """
