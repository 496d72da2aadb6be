"""Re-integration of the map after a loop closure, off the frame loop: a worker thread builds the new volume from
the stored keyframes while frames keep being fused into the old one; the next step swaps it in, after adding the
keyframes stored since the worker started.

    rebuilder = MapRebuilder(fusion_config, store, K, background=True)
    volume = rebuilder.request(poses)          # None in the background: the worker has started (or will rerun)
    volume = rebuilder.collect(poses)          # each step: the rebuilt volume once the worker is done, else None
    volume = rebuilder.collect(poses, wait=True)   # before a snapshot or the end: wait (and redo if asked again)

``background=False`` rebuilds at once in ``request`` (deterministic runs). The seconds each rebuild took are
appended to ``seconds`` (the caller may hand its own list). On Linux the worker runs at a lower priority (nice
``WORKER_NICENESS``, inherited by the compute threads it starts), so a rebuild takes the core time the frame loop
leaves rather than slowing its frames.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from m2h_slam.core.config import FusionConfig
from m2h_slam.core.intrinsics import Intrinsics
from pipeline.mapping.fusion import SemanticTSDF
from pipeline.mapping.keyframe_store import KeyframeStore, rebuild

WORKER_NICENESS = 10  # added to the rebuild worker's nice value (Linux; 19 is the lowest priority)


def lower_this_threads_priority(niceness: int = WORKER_NICENESS) -> None:
    """Make the calling thread (and the threads it starts later) yield the cores to the others: its nice value goes
    up by ``niceness`` on Linux, where threads have their own; elsewhere nothing changes."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))


class MapRebuilder:
    """One rebuild at a time; a request while one runs makes it run again once it is collected."""

    def __init__(self, config: FusionConfig, store: KeyframeStore, K: Intrinsics, background: bool = True,
                 seconds: list[float] | None = None):
        self.config, self.store, self.K, self.background = config, store, store.intrinsics(K), background
        self.seconds = [] if seconds is None else seconds
        self._pool: ThreadPoolExecutor | None = None
        self._job: tuple[Future, int] | None = None  # the worker, the last keyframe number it integrates
        self._again = False

    @property
    def running(self) -> bool:
        return self._job is not None

    def request(self, poses: list[np.ndarray]) -> SemanticTSDF | None:
        """Rebuild at ``poses`` (world_T_camera by pose-graph number): the new volume when not in the background."""
        if not self.background:
            return self._timed(list(self.store.entries), list(poses))
        if self._job is not None:
            self._again = True
            return None
        self._start(poses)
        return None

    def collect(self, poses: list[np.ndarray], wait: bool = False) -> SemanticTSDF | None:
        """The rebuilt volume once the worker is done (``wait``: wait for it), with the keyframes stored since it
        started integrated at ``poses``; None while it runs or when none was asked for."""
        if self._job is None or not (wait or self._job[0].done()):
            return None
        future, last = self._job
        self._job = None
        volume = future.result()
        if self._again:  # poses moved again while it ran
            self._again = False
            if wait:
                return self._timed(list(self.store.entries), list(poses))
            self._start(poses)
        rebuild(self.config, [e for e in self.store.entries if e.number > last], self.K, poses, volume)
        return volume

    def _start(self, poses: list[np.ndarray]) -> None:
        entries = list(self.store.entries)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="m2h-rebuild", initializer=lower_this_threads_priority)
        future = self._pool.submit(self._timed, entries, list(poses))
        self._job = (future, entries[-1].number if entries else -1)

    def _timed(self, entries, poses) -> SemanticTSDF:
        start = time.perf_counter()
        volume = rebuild(self.config, entries, self.K, poses)
        self.seconds.append(round(time.perf_counter() - start, 3))
        return volume
