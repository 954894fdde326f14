"""The validator set of one height: an ordered list of public keys with equal voting power.

With ``n`` validators the protocol tolerates ``f = (n - 1) // 3`` Byzantine ones. Thresholds are counted
in validators, not in ``f``, so they stay correct when ``n`` is not exactly ``3f + 1``:
``quorum = 2n//3 + 1`` (any two quorums share a correct validator) and ``skip = n//3 + 1`` (the
paper's f+1: at least one correct validator is among them). The proposer of (height, round) is the
validator at index ``(height + round) mod n``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from consensus.crypto import PUBLIC_KEY_BYTES


@dataclass(frozen=True)
class ValidatorSet:
    """An ordered, duplicate-free list of validator public keys."""

    keys: tuple[bytes, ...]
    """Validator Ed25519 public keys in proposer order."""
    _index: dict[bytes, int] = field(init=False, repr=False, compare=False)

    def __init__(self, keys: Iterable[bytes]) -> None:
        ordered = tuple(keys)
        if not ordered:
            raise ValueError("a validator set needs at least one validator")
        if any(len(k) != PUBLIC_KEY_BYTES for k in ordered):
            raise ValueError("validator keys are 32-byte Ed25519 public keys")
        if len(set(ordered)) != len(ordered):
            raise ValueError("a validator appears twice in the set")
        object.__setattr__(self, "keys", ordered)
        object.__setattr__(self, "_index", {k: i for i, k in enumerate(ordered)})

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def index_of(self, key: bytes) -> int | None:
        return self._index.get(key)

    @property
    def quorum(self) -> int:
        """2f+1 in the paper: votes needed to lock, to decide, or to give up on a round."""
        return 2 * len(self.keys) // 3 + 1

    @property
    def skip_threshold(self) -> int:
        """f+1 in the paper: senders from a higher round that make us jump to it."""
        return len(self.keys) // 3 + 1

    @property
    def max_faulty(self) -> int:
        return (len(self.keys) - 1) // 3

    def proposer(self, height: int, round_: int) -> bytes:
        return self.keys[(height + round_) % len(self.keys)]
