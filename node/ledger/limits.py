"""The byte limits of blocks and of everything that carries them, derived from one number.

A block must fit everywhere it goes: the proposer's ``Proposal`` in one p2p frame, a block-sync
answer (block + commit certificate) in one frame, the block store. So everything starts from the
largest frame payload a node sends or accepts, and a block gets that minus a fixed envelope that
covers the largest thing ever wrapped around one block (a peer-message record around a proposal, or a
sync pair's certificate). A block that the rules allow therefore always fits the wire; a block over
``MAX_BLOCK_BYTES`` is refused by ``decode_block`` wherever it arrives, and the proposer never builds
one (``Ledger.build_block`` stops adding transactions before it). The consensus safety record does
not hold blocks at all (it names proposals by id), so its size does not depend on these limits.
"""

from __future__ import annotations

from typing import Final

from consensus.certificate import MAX_SIGNATURES
from consensus.crypto import PUBLIC_KEY_BYTES, SIGNATURE_BYTES

MAX_FRAME_PAYLOAD: Final = 16 * 1024 * 1024
"""Largest decrypted p2p message (the transport's frame cap adds only the AEAD tag)."""

ENVELOPE_BYTES: Final = 256 * 1024
"""Room reserved around one block in any message that carries it."""

MAX_BLOCK_BYTES: Final = MAX_FRAME_PAYLOAD - ENVELOPE_BYTES
"""Largest encoded block: built, validated, sent, synced and stored."""

MAX_PROPOSAL_BYTES: Final = MAX_BLOCK_BYTES + 1024
"""Largest encoded proposal: a block plus height, round, valid round, key and signature (~120 B)."""

# A certificate is [tag, version, height, round, value_id, [[key, sig], ...]]: per signer a 1-byte
# array header, two bin headers (2 bytes each), the key and the signature; 64 bytes cover the rest.
MAX_CERTIFICATE_BYTES: Final = 64 + MAX_SIGNATURES * (1 + 2 + PUBLIC_KEY_BYTES + 2 + SIGNATURE_BYTES)
"""Largest encoded commit certificate (MAX_SIGNATURES signers)."""

MAX_SYNC_RESPONSE_BYTES: Final = 8 * 1024 * 1024
"""A block-sync answer stops adding blocks past this; its first block is always sent whole."""

# The envelope must hold what goes around a block: a sync pair (certificate + list headers) and a
# proposal's fields, each inside a peer-message record.
assert MAX_CERTIFICATE_BYTES + 64 <= ENVELOPE_BYTES
assert MAX_PROPOSAL_BYTES + 64 <= MAX_FRAME_PAYLOAD
