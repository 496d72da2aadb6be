"""The one way an unexpected error is reported: a one-line description and the traceback in a file."""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

from m2h_slam.core.atomic import atomic_write_text


def describe(error: BaseException) -> str:
    """``TypeName: first line of the message`` (at most 200 characters of it)."""
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def write_traceback(error: BaseException, path: str | os.PathLike | None = None) -> str:
    """Write ``error``'s traceback to ``path`` (default: a new file in the temporary folder); "traceback in PATH",
    or "no log written" when it cannot be written."""
    text = "".join(traceback.format_exception(error))
    try:
        if path is None:
            fd, path = tempfile.mkstemp(prefix=f"m2h-slam-error-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log")
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        else:
            atomic_write_text(Path(path), text)
        return f"traceback in {path}"
    except OSError:
        return "no log written"
