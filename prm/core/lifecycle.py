"""Graceful shutdown: on SIGTERM, readiness goes false first, then the server stops.

An orchestrator (Kubernetes, compose, systemd) sends SIGTERM and, in parallel, stops routing
to the instance once its readiness probe fails. So for `drain_seconds` after SIGTERM the
process keeps serving but `/ready` answers 503, letting load balancers notice; then uvicorn's
own shutdown runs: it stops accepting, lets in-flight requests finish (up to the timeout),
and the app's lifespan stops the timers and the outbox between units of work. A second
SIGTERM (or SIGINT, Ctrl-C) skips the drain.

The handler wraps uvicorn's: uvicorn installs its own before start-up, and the lifespan,
which runs after that, puts this one in front of it, in each worker process.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("prm.lifecycle")

SignalHandler = Callable[[int, FrameType | None], Any]


class Lifecycle:
    def __init__(self, *, drain_seconds: float, timeout_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        self.timeout_seconds = timeout_seconds
        self.draining = False
        self.stopping_since: float | None = None  # monotonic time the server began to stop
        self._then: SignalHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        """Put the drain in front of the current SIGTERM handler (only the main thread may)."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if callable(previous):
            self._then, self._loop = previous, asyncio.get_running_loop()
            signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, sig: int, frame: FrameType | None) -> None:
        if self.draining or self.drain_seconds <= 0 or self._loop is None:
            self._stop(sig, frame)
            return
        self.draining = True
        log.info("SIGTERM: not ready any more; serving for %.1f s more, then stopping", self.drain_seconds)
        self._loop.call_soon_threadsafe(self._loop.call_later, self.drain_seconds, self._stop, sig, frame)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        self.draining = True
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
            log.info("stopping: in-flight requests and running jobs get up to %.1f s", self.timeout_seconds)
        if self._then is not None:
            self._then(sig, frame)

    def time_left(self) -> float:
        """What remains of the shutdown timeout (all of it before the server began to stop)."""
        if self.stopping_since is None:
            return self.timeout_seconds
        return max(self.timeout_seconds - (time.monotonic() - self.stopping_since), 0.5)
