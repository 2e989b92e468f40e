"""A bounded number of calls at work and a bounded queue: beyond both, RESOURCE_EXHAUSTED at once.

Memory and latency stay bounded under overload: a call either gets a slot, waits in the queue for one (no
longer than its deadline allows), or is refused immediately with a message that says to retry with backoff.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from stampauth.errors import DeadlineExceeded, ResourceExhausted


class AdmissionGate:
    def __init__(self, max_active: int, max_queued: int, on_change: Callable[[int, int], None] | None = None):
        self.max_active, self.max_queued = max_active, max_queued
        self.active = self.queued = 0
        self._condition = threading.Condition()
        self._on_change = on_change  # (active, queued), e.g. for metrics

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.active, self.queued)

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[None]:
        """Hold one of the ``max_active`` slots for the block; wait at most ``timeout`` seconds (None: no limit)."""
        with self._condition:
            if self.active >= self.max_active:
                if self.queued >= self.max_queued:
                    raise ResourceExhausted(
                        f"the server is busy ({self.active} calls at work, {self.queued} waiting, the most it queues); "
                        "retry with exponential backoff, or add replicas")
                self.queued += 1
                self._changed()
                ends = None if timeout is None else time.monotonic() + timeout
                try:
                    while self.active >= self.max_active:
                        left = None if ends is None else ends - time.monotonic()
                        if left is not None and left <= 0:
                            raise DeadlineExceeded("the call's deadline passed while it waited for a free slot; "
                                                   "the server is busy: retry with backoff or a longer deadline")
                        self._condition.wait(left)
                finally:
                    self.queued -= 1
            self.active += 1
            self._changed()
        try:
            yield
        finally:
            with self._condition:
                self.active -= 1
                self._changed()
                self._condition.notify()
