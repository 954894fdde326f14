"""The peer set as the world state records it (AddPeer / RemovePeer), and the validator set it implies.

The validator set for height h+1 is read from the state after h: the peers without ``syncing``,
ordered by public key so every node derives the same order (and so the same proposer rotation).
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus import codec
from consensus.validators import ValidatorSet
from storage import keys
from storage.db import LedgerStore, PublishedState


@dataclass(frozen=True)
class Peer:
    public_key: bytes
    address: str
    name: str
    observer: bool

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host, int(port)


def peers_in_state(store: LedgerStore | PublishedState) -> list[Peer]:
    """Every peer the committed state lists, ordered by public key."""
    out = []
    for key, raw in store.scan(keys.PEER):
        address, name, syncing = codec.decode_trusted(raw)
        out.append(Peer(key[len(keys.PEER):], address, name, bool(syncing)))
    return out


def validator_set(store: LedgerStore | PublishedState) -> ValidatorSet:
    return ValidatorSet(p.public_key for p in peers_in_state(store) if not p.observer)
