"""The signer seam: what the node needs from whatever holds a private key.

Today the key is a ``consensus.crypto.KeyPair`` read from a key file (``node.keyfile``) and held in
the node's memory. A bank may want it in an HSM or behind a remote signer (as Tendermint validators
use tmkms): such a signer implements this Protocol. Everything the node signs is a 32-byte digest that
already carries its domain tag and chain id (``consensus.crypto.signing_digest``), so the signer signs
bytes and never has to parse a vote or a transaction to sign it; a remote signer that wants to refuse
double signing must be told more (see docs/keys.md, "The signer seam": it keeps its own high-water
mark of height/round/step, because the node's safety record cannot protect a key the node does not hold).

Where the node signs today (each takes a ``KeyPair``; plugging a signer in changes these types, not the
code around them):
- consensus votes and proposals: ``consensus.engine.Engine(key=...)`` via ``consensus.messages.sign_*``,
  built by ``node.runtime.driver`` from ``Node.key``;
- the p2p handshake proving the node's identity: ``node.p2p.handshake`` via ``node.p2p.transport``;
- the CLI signing transactions and queries: ``node.ledger.transactions.build_transaction`` and
  ``node.ledger.queries.sign_query``, with keys from ``--key`` files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from consensus.crypto import KeyPair


@runtime_checkable
class Signer(Protocol):
    """An Ed25519 signer: its public key, and a signature of a digest. ``sign`` may block (an HSM or a
    network round trip); it must never return a signature the key would not verify."""

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        ...

    def sign(self, digest: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``digest`` (a ``signing_digest``)."""
        ...


if TYPE_CHECKING:
    def _a_key_pair_is_a_signer(key: KeyPair) -> Signer:  # checked by mypy --strict, never called
        return key
