"""Errors that reach the user as one line."""

from __future__ import annotations

import os


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
