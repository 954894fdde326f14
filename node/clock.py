"""Wall-clock time in the ledger's unit (milliseconds since the epoch), in one place."""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)
