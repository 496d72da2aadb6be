"""The ``m2h-slam`` command line: parses, dispatches to ``m2h_slam.app.commands``, and reports errors.

User mistakes end with one line on stderr (``m2h-slam: error: FILE: problem``) and exit status 2; a failed run
or a full disk with one line and status 1; a bug with one line and its traceback in a file. Warnings print as
``m2h-slam: warning: ...``.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Sequence as Seq

from m2h_slam import __version__

# Only the standard library above: the project's modules (numpy, scipy, torch behind them) are imported inside
# ``main``, so that a Ctrl-C while they load ends as every other Ctrl-C does (status 130, one line).
log = logging.getLogger("m2h_slam")


class _Formatter(logging.Formatter):
    """Info as plain lines; warnings and errors prefixed like the CLI's own errors."""

    def format(self, record: logging.LogRecord) -> str:
        from m2h_slam.core.errors import plain

        message = plain(record.getMessage())
        if record.levelno >= logging.WARNING:
            return f"m2h-slam: {record.levelname.lower()}: {message}"
        return message


def build_parser() -> argparse.ArgumentParser:
    from m2h_slam.app.commands import COMMANDS

    parser = argparse.ArgumentParser(prog="m2h-slam",
                                     description="Monocular spatial perception: M2H + SLAM + scene graph.")
    parser.add_argument("--version", action="version", version=f"m2h-slam {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="print errors only")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add(commands, common)
    return parser


#: OSError numbers that mean a wrong path (a user mistake, status 2); others (disk full, I/O) give status 1.
_PATH_ERRORS = {errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EROFS, errno.ENOENT,
                errno.ENAMETOOLONG, errno.ELOOP}


def _error(message: str, status: int) -> int:
    from m2h_slam.core.errors import plain

    print(f"m2h-slam: error: {plain(message)}", file=sys.stderr)
    return status


def _interrupted(interrupt: KeyboardInterrupt) -> int:
    interrupts = sys.modules.get("m2h_slam.core.interrupts")  # not loaded yet: it cannot be its Terminated
    terminated = interrupts is not None and isinstance(interrupt, interrupts.Terminated)
    print(f"m2h-slam: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
    return 143 if terminated else 130


def main(argv: Seq[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt as interrupt:  # while starting (imports, parsing) or while reporting another error
        return _interrupted(interrupt)


def _main(argv: Seq[str] | None) -> int:
    from m2h_slam.core import interrupts

    interrupts.raise_on_sigterm()
    with interrupts.counted_sigint():
        return _command(argv, interrupts.signals_received())


def _command(argv: Seq[str] | None, mark: int) -> int:
    from m2h_slam.core.errors import InputError, M2HError
    from m2h_slam.core.interrupts import raise_if_signalled

    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.ERROR if args.quiet else logging.INFO)
    log.propagate = False
    try:
        try:
            return args.func(args)
        except Exception as error:  # after a Ctrl-C that a library made an error of its own: interrupted
            if not isinstance(error, OSError):
                raise_if_signalled(mark)
            raise
    except InputError as error:
        return _error(str(error), 2)
    except M2HError as error:  # a run that failed: its message says what was kept and where the log is
        return _error(str(error), 1)
    except KeyboardInterrupt as interrupt:
        return _interrupted(interrupt)
    except OSError as error:  # unwritable path, disk full: name the path
        where = error.filename or getattr(args, "out", None) or "?"
        return _error(f"{where}: {error.strerror or error}", 2 if error.errno in _PATH_ERRORS else 1)
    except Exception as error:  # a bug: one line, the traceback in a file
        from m2h_slam.app.crash_report import describe, write_traceback

        return _error(f"unexpected {describe(error)}; {write_traceback(error)}", 1)


if __name__ == "__main__":
    sys.exit(main())
