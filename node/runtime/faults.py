"""The one seam for test-only behaviour: nothing here runs unless ``[testing]`` switches it on.

The composition root builds ``Faults`` from the config and wires it at three places only: the
consensus driver's outbox (``consensus_send``: a Byzantine validator's misbehaviour, ``[testing]
byzantine``, see ``node.runtime.byzantine``), the network's head announcements (the same mode's lies),
and, for ``[testing] fault_injection = true``, the API routes that isolate the node from its peers or
arm a crash inside the next block commit. Product code has no test-only branches of its own.

Crash at commit: kill the node at a chosen point inside its next block commit, for real (SIGKILL to
itself), so a fault campaign can check that a crash in the middle of a commit neither loses nor
half-applies a block.

Points (``storage.db.COMMIT_STAGES``): ``before_write`` (the block is decided and executed, its
batch built, nothing written), ``during_write`` (a second thread sends SIGKILL while the synced batch
is being written: the write lands entirely or not at all), ``after_write`` (the batch is durable, but
the node has not updated its caches, told its clients or started the next height).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Protocol

from node.config import TestingConfig
from node.runtime.byzantine import ByzantineHost, Misbehaviour
from node.runtime.driver import Send
from storage.db import COMMIT_STAGES, LedgerStore

log = logging.getLogger("bakong.fault_injection")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm_crash_at_commit(store: LedgerStore, point: str) -> None:
    """Make the next block commit kill this process at ``point`` (one of ``COMMIT_STAGES``)."""
    if point not in COMMIT_STAGES:
        raise ValueError(f"point must be one of {', '.join(COMMIT_STAGES)}")

    def fault(reached: str) -> None:
        if reached != point:
            return
        store.commit_hook = None
        log.warning("fault injection: SIGKILL at %s of a block commit", point)
        for handler in logging.getLogger().handlers:
            handler.flush()
        if point == "during_write":
            # Race the kill against the synced write this thread is about to do (plyvel releases the
            # GIL while LevelDB writes and syncs).
            threading.Thread(target=_die, daemon=True).start()
        else:
            _die()

    store.commit_hook = fault
    log.warning("fault injection: armed to crash at %s of the next block commit", point)


class Isolatable(Protocol):
    isolated: bool


class FaultyNetwork(Protocol):
    """What the seam reaches of the network (``node.p2p.network.P2PNetwork``)."""

    head_to_announce: Callable[[int, bytes], tuple[int, bytes]] | None

    @property
    def transport(self) -> Isolatable: ...
    def connected_validators(self) -> list[bytes]: ...
    def send_to_validator(self, peer: bytes, message: bytes) -> None: ...


class Faults:
    def __init__(self, testing: TestingConfig, host: ByzantineHost, network: FaultyNetwork) -> None:
        self.testing = testing
        self.network = network
        self.store: LedgerStore = host.ledger.store
        self.misbehaviour: Misbehaviour | None = None
        if testing.byzantine:
            log.warning("!!! BYZANTINE TEST MODE %r: this node deliberately misuses its key (conflicting, forged "
                        "and withheld consensus messages; never run this outside tests) !!!", testing.byzantine)
            self.misbehaviour = Misbehaviour(testing.byzantine, host, network.connected_validators,
                                             network.send_to_validator)
            network.head_to_announce = self.misbehaviour.announced_head

    def consensus_send(self, honest: Send) -> Send:
        """The driver's outbox: the misbehaviour around the honest engine, or the honest send itself."""
        return self.misbehaviour.broadcast if self.misbehaviour is not None else honest

    def isolate(self, isolated: bool) -> bool:
        """Drop every inbound and outbound peer frame while ``isolated`` (a partition of one)."""
        self.network.transport.isolated = isolated
        return bool(self.network.transport.isolated)

    def crash_at_commit(self, point: str) -> None:
        arm_crash_at_commit(self.store, point)
