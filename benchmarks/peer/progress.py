"""Progress lines on stderr; stdout carries only the results."""

from __future__ import annotations

import sys
import time

__all__ = ["say"]

_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[peer {time.monotonic() - _STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)
