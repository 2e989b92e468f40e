"""Stopping work for a call that no longer wants it, without the core knowing about gRPC.

The transport sets a check for the current call (:func:`watching`); long-running core code calls
:func:`checkpoint` between pages and stages, which raises :class:`~stampauth.errors.Cancelled` or
:class:`~stampauth.errors.DeadlineExceeded` once the caller cancelled or its deadline passed, so the call's slot
is freed instead of finishing work nobody will read.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

from stampauth.errors import StampAuthError

# A check returns None while the call should go on, or the error to stop it with.
_check: ContextVar[Callable[[], StampAuthError | None] | None] = ContextVar("stampauth_call_check", default=None)


@contextmanager
def watching(check: Callable[[], StampAuthError | None]) -> Iterator[None]:
    """Run the block with ``check`` as the current call's check."""
    token = _check.set(check)
    try:
        yield
    finally:
        _check.reset(token)


def checkpoint() -> None:
    """Raise if the current call was cancelled or ran out of time; a no-op outside a watched call."""
    check = _check.get()
    if check is not None:
        error = check()
        if error is not None:
            raise error
