"""The peer set as the world state records it (AddPeer / RemovePeer), and the validator set it implies.

The validator set for height h+1 is read from the state after h: the peers without ``syncing``,
ordered by public key so every node derives the same order (and so the same proposer rotation).
"""

from __future__ import annotations

from consensus.validators import ValidatorSet
from node.ledger.records import Peer
from node.ledger.state import StoredWorld
from storage import keys
from storage.db import LedgerStore, PublishedState

__all__ = ["Peer", "peers_in_state", "validator_set"]  # Peer: the record, importable from here as before


def peers_in_state(store: LedgerStore | PublishedState) -> list[Peer]:
    """Every peer the committed state lists, ordered by public key."""
    return [peer for _key, peer in StoredWorld(store).scan(keys.PEER) if isinstance(peer, Peer)]


def validator_set(store: LedgerStore | PublishedState) -> ValidatorSet:
    return ValidatorSet(p.public_key for p in peers_in_state(store) if not p.observer)
