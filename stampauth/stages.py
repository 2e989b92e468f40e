"""Stage timing hooks for the transport-free core: no metrics library, no cost when nobody listens.

The core wraps each stage of a request in :func:`stage`::

    with stage("embed"):
        vectors = encoder.embed(canvases)

and whoever cares (the gRPC server's Prometheus metrics, a benchmark, a test) registers an observer::

    add_stage_observer(lambda name, seconds: print(name, seconds))

An observer is called synchronously in the thread that ran the stage (so it can read that thread's
``contextvars``, e.g. the current request id) with the stage name and its wall time in seconds; it is called
when the stage raises too. Observers must be quick and must not raise: an observer that raises is logged and
skipped, never breaks the request. With no observer, :func:`stage` returns a shared no-op context manager:
one tuple read and one set lookup per stage.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

# "detect" includes "downscale"; "overlay": a stamp query registered onto its references (stampauth.overlay)
STAGES = ("decode", "downscale", "detect", "preprocess", "embed", "score", "overlay", "ocr")
_KNOWN = frozenset(STAGES)

StageObserver = Callable[[str, float], None]

# Copy-on-write: readers take the tuple without a lock (an attribute read is atomic); writers swap it under the lock.
_observers: tuple[StageObserver, ...] = ()
_lock = threading.Lock()


def add_stage_observer(observer: StageObserver) -> None:
    """Call ``observer(name, seconds)`` after every stage, in the stage's thread. Adding one twice is a no-op."""
    global _observers
    with _lock:
        if observer not in _observers:
            _observers = _observers + (observer,)


def remove_stage_observer(observer: StageObserver) -> None:
    """Stop calling ``observer``; removing one that is not registered is a no-op."""
    global _observers
    with _lock:
        _observers = tuple(o for o in _observers if o != observer)


def stage_observers() -> tuple[StageObserver, ...]:
    return _observers


class _NoTiming:
    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False


_NO_TIMING = _NoTiming()


class _Timing:
    __slots__ = ("name", "observers", "started")

    def __init__(self, name: str, observers: tuple[StageObserver, ...]):
        self.name = name
        self.observers = observers
        self.started = 0.0

    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> bool:
        seconds = time.perf_counter() - self.started
        for observer in self.observers:
            try:
                observer(self.name, seconds)
            except Exception:  # noqa: BLE001 - timing must never break the request it times
                log.exception("stage observer %r failed on stage %s", observer, self.name)
        return False


def stage(name: str):
    """A context manager that times the stage ``name`` (one of :data:`STAGES`) and reports it to the observers.

    The observers are those registered when the stage starts. Exceptions pass through (and are timed).
    """
    if name not in _KNOWN:
        raise ValueError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
    observers = _observers
    if not observers:
        return _NO_TIMING
    return _Timing(name, observers)
