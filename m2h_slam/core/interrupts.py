"""Ctrl-C and SIGTERM as one ``KeyboardInterrupt``, held back while state is half-updated.

``kill``, ``timeout`` and container stops send SIGTERM; it is raised as ``Terminated``
(a ``KeyboardInterrupt``), so every command cleans up and saves exactly as for Ctrl-C.
Inside ``Interrupts.critical()`` a signal is remembered and raised when the block ends,
so a snapshot never captures a frame that was fused only in part.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM received (exit status 143)."""


_received: list[int] = []  # the signals the handlers here raised, in order (a library may swallow the exception)


def _raise_for(signum: int) -> None:
    _received.append(signum)
    _raise(signum)


def _raise(signum: int) -> None:
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def signals_received() -> int:
    """How many SIGINT / SIGTERM the handlers here have raised so far (a mark for ``raise_if_signalled``)."""
    return len(_received)


def raise_if_signalled(since: int) -> None:
    """Raise ``KeyboardInterrupt`` (``Terminated`` for SIGTERM) again if a signal arrived after the mark ``since``.

    For code whose libraries turn the exception raised inside them into an error of their own (safetensors and
    torch make a Ctrl-C while reading a file a ``ValueError``): call it before reporting such an error."""
    if len(_received) > since:
        _raise(_received[-1])


def raise_on_sigterm() -> None:
    """Make SIGTERM raise ``Terminated`` in the main thread (no-op elsewhere)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, _frame: _raise_for(signum))


@contextlib.contextmanager
def counted_sigint() -> Iterator[None]:
    """Inside: Ctrl-C raises ``KeyboardInterrupt`` as Python's own handler does, and is counted (see
    ``signals_received``); the handler is put back afterwards. Where Ctrl-C is ignored (a background job) or handled
    by someone else, or outside the main thread, nothing changes."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if previous is not signal.default_int_handler:
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, _frame: _raise_for(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Interrupts:
    """Context manager: SIGINT / SIGTERM raise at once, or at the end of a ``critical()`` block."""

    def __init__(self) -> None:
        self._critical = False
        self._pending: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame) -> None:
        if self._critical:
            self._pending = signum
        else:
            _raise_for(signum)

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._pending is not None:
            signum, self._pending = self._pending, None
            _raise_for(signum)
