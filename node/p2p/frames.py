"""Wire framing and the per-direction AEAD for node-to-node links.

A frame on the wire is ``len (4 bytes, big-endian) || body``. Before the handshake completes the body
is a plaintext handshake record and the cap is tiny (:data:`HANDSHAKE_MAX_FRAME`), so an unauthenticated
stranger cannot make us buffer megabytes; afterwards the body is a ChaCha20-Poly1305 ciphertext under the
session key of that direction, capped by the transport's ``max_frame``.

Nonces are a 96-bit big-endian counter starting at 0, one counter per direction. Each direction has its
own key (see ``p2p_handshake``), so the two counters never meet under one key, and a :class:`FrameCipher`
only ever moves its counter forward: a nonce is never reused. The receiver expects exactly the next
counter, so a replayed, dropped or reordered frame fails authentication like a tampered one.

No I/O policy lives here beyond reading one frame; the transport decides what a failure costs the peer.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from node.ledger.limits import MAX_FRAME_PAYLOAD
from node.p2p.errors import FrameError, PeerClosed

HEADER: Final = struct.Struct(">I")
AEAD_TAG_BYTES: Final = 16
NONCE_BYTES: Final = 12
# Largest application payload the node sends in one message (node.limits: a maximal block with its
# envelope fits in it).
MAX_PAYLOAD: Final = MAX_FRAME_PAYLOAD
# Default cap on a frame body: one maximal payload plus the AEAD tag.
DEFAULT_MAX_FRAME: Final = MAX_PAYLOAD + AEAD_TAG_BYTES
# Handshake records are < 200 bytes; anything bigger before authentication is hostile or broken.
HANDSHAKE_MAX_FRAME: Final = 1024
_MAX_COUNTER: Final = 2 ** (8 * NONCE_BYTES) - 1


def encode_frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader, max_frame: int) -> bytes:
    """Read one frame body; refuses a declared length above ``max_frame`` before reading it."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError:
        raise PeerClosed("end of stream") from None
    (length,) = HEADER.unpack(header)
    if length > max_frame:
        raise FrameError("frame_too_large", f"declared {length} bytes, cap is {max_frame}")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise PeerClosed("end of stream inside a frame") from None


class FrameCipher:
    """One direction of a session: ChaCha20-Poly1305 with a counter nonce that only moves forward."""

    __slots__ = ("_aead", "_counter")

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0

    @property
    def counter(self) -> int:
        """The nonce the next frame will use (frames processed so far in this direction)."""
        return self._counter

    def _next_nonce(self) -> bytes:
        if self._counter > _MAX_COUNTER:
            # 2**96 frames will not happen, but wrapping would reuse a nonce, so refuse rather than wrap.
            raise OverflowError("nonce counter exhausted; the session must be re-established")
        nonce = self._counter.to_bytes(NONCE_BYTES, "big")
        self._counter += 1
        return nonce

    def seal(self, plaintext: bytes) -> bytes:
        return self._aead.encrypt(self._next_nonce(), plaintext, None)

    def open(self, ciphertext: bytes) -> bytes:
        """Decrypt the next frame; raises :class:`FrameError` when it does not authenticate."""
        nonce = self._next_nonce()
        if len(ciphertext) < AEAD_TAG_BYTES:
            raise FrameError("short_ciphertext", f"{len(ciphertext)} bytes is shorter than the AEAD tag")
        try:
            return self._aead.decrypt(nonce, ciphertext, None)
        except InvalidTag:
            raise FrameError("decrypt_failed", "frame failed authentication") from None
