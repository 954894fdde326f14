"""Test-only fault injection (``[testing] fault_injection = true``): crash the node at a chosen point
inside its next block commit, for real (SIGKILL to itself), so a fault campaign can check that a crash
in the middle of a commit neither loses nor half-applies a block.

Points (``storage.db.COMMIT_FAULT_POINTS``): ``before_write`` (the block is decided and executed, its
batch built, nothing written), ``during_write`` (a second thread sends SIGKILL while the synced batch
is being written: the write lands entirely or not at all), ``after_write`` (the batch is durable, but
the node has not updated its caches, told its clients or started the next height).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from storage.db import COMMIT_FAULT_POINTS, LedgerStore

log = logging.getLogger("bakong.fault_injection")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm_crash_at_commit(store: LedgerStore, point: str) -> None:
    """Make the next block commit kill this process at ``point`` (one of ``COMMIT_FAULT_POINTS``)."""
    if point not in COMMIT_FAULT_POINTS:
        raise ValueError(f"point must be one of {', '.join(COMMIT_FAULT_POINTS)}")

    def fault(reached: str) -> None:
        if reached != point:
            return
        store.commit_fault = None
        log.warning("fault injection: SIGKILL at %s of a block commit", point)
        for handler in logging.getLogger().handlers:
            handler.flush()
        if point == "during_write":
            # Race the kill against the synced write this thread is about to do (plyvel releases the
            # GIL while LevelDB writes and syncs).
            threading.Thread(target=_die, daemon=True).start()
        else:
            _die()

    store.commit_fault = fault
    log.warning("fault injection: armed to crash at %s of the next block commit", point)
