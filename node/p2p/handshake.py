"""The mutual node handshake: prove both node keys, agree on per-direction session keys.

Protocol (both sides run the same steps; "role" is initiator = the dialer, responder = the acceptor):

1. Each side sends ``Hello = [70, 1, chain_id, node_public_key, ephemeral_x25519_public_key]`` at once,
   then reads the other's. The hello is refused when the chain id differs, when the node key is not
   allowed (``is_allowed``), when the dialer expected a different key, or when it is our own key.
2. ``transcript = [72, 1, chain_id, initiator_node_key, responder_node_key, initiator_ephemeral,
   responder_ephemeral]`` (canonical codec), ``th = sha256(transcript)``. Each side sends
   ``Auth = [71, 1, ed25519_signature]`` over ``signing_digest(HANDSHAKE, chain_id, role_label || th)``
   and verifies the other's against the node key from its hello. The role label stops a signature made
   as initiator being replayed as responder; the ephemeral keys in ``th`` make every signature fresh.
3. ``shared = X25519(own_ephemeral, peer_ephemeral)``; two HKDF-SHA256 derivations with ``salt = th``
   and a per-direction ``info`` give the initiator->responder and responder->initiator keys. Binding to
   ``th`` means a man in the middle who swapped an ephemeral key ends up with different keys and
   a signature that does not verify.

Handshake records are plaintext frames capped at ``HANDSHAKE_MAX_FRAME``; the whole exchange runs
under a timeout. Every refusal raises :class:`HandshakeError` with a stable ``code``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from consensus import codec
from consensus.crypto import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Domain, KeyPair, signing_digest, verify
from node.p2p.errors import FrameError, HandshakeError, PeerClosed
from node.p2p.frames import HANDSHAKE_MAX_FRAME, FrameCipher, encode_frame, read_frame

HELLO_TAG: Final = 70
AUTH_TAG: Final = 71
TRANSCRIPT_TAG: Final = 72
VERSION: Final = 1
DEFAULT_HANDSHAKE_TIMEOUT: Final = 5.0
_SESSION_KEY_BYTES: Final = 32
_INFO_I2R: Final = b"bakong.p2p.v1 initiator->responder"
_INFO_R2I: Final = b"bakong.p2p.v1 responder->initiator"

# Codes for which the peer's key, not its behaviour, was the reason: the transport counts them apart.
KEY_REFUSAL_CODES: Final = frozenset({"not_allowed", "unexpected_key", "self_connection"})


class Role(Enum):
    INITIATOR = b"initiator"
    RESPONDER = b"responder"


@dataclass(frozen=True)
class Hello:
    chain_id: str
    node_key: bytes
    ephemeral_key: bytes

    def encode(self) -> bytes:
        return codec.encode([HELLO_TAG, VERSION, self.chain_id, self.node_key, self.ephemeral_key])

    @classmethod
    def decode(cls, data: bytes) -> Hello:
        f = codec.expect_record(codec.decode(data, HANDSHAKE_MAX_FRAME), HELLO_TAG, VERSION, 3, "hello")
        return cls(
            chain_id=codec.expect_str(f[0], "hello.chain_id", max_length=128),
            node_key=codec.expect_bytes(f[1], "hello.node_key", length=PUBLIC_KEY_BYTES),
            ephemeral_key=codec.expect_bytes(f[2], "hello.ephemeral_key", length=32),
        )


@dataclass(frozen=True)
class Session:
    """What a completed handshake yields: who the peer is and one cipher per direction."""

    peer_key: bytes
    role: Role
    transcript_hash: bytes
    sender: FrameCipher
    receiver: FrameCipher

    def initiator_key(self, own_key: bytes) -> bytes:
        """The node key of the side that dialed this connection."""
        return own_key if self.role is Role.INITIATOR else self.peer_key


def transcript_hash(chain_id: str, initiator: Hello, responder: Hello) -> bytes:
    record = [TRANSCRIPT_TAG, VERSION, chain_id, initiator.node_key, responder.node_key,
              initiator.ephemeral_key, responder.ephemeral_key]
    return hashlib.sha256(codec.encode(record)).digest()


def auth_digest(chain_id: str, role: Role, th: bytes) -> bytes:
    return signing_digest(Domain.HANDSHAKE, chain_id, role.value + th)


def derive_session_keys(shared_secret: bytes, th: bytes) -> tuple[bytes, bytes]:
    """(initiator->responder key, responder->initiator key), both bound to the transcript hash."""
    keys = []
    for info in (_INFO_I2R, _INFO_R2I):
        hkdf = HKDF(algorithm=hashes.SHA256(), length=_SESSION_KEY_BYTES, salt=th, info=info)
        keys.append(hkdf.derive(shared_secret))
    return keys[0], keys[1]


async def perform_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    role: Role,
    chain_id: str,
    key: KeyPair,
    is_allowed: Callable[[bytes], bool],
    expected_key: bytes | None = None,
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
) -> Session:
    """Run the handshake on a fresh connection; raises :class:`HandshakeError` on any refusal."""
    try:
        async with asyncio.timeout(timeout):
            return await _exchange(reader, writer, role, chain_id, key, is_allowed, expected_key)
    except TimeoutError:
        raise HandshakeError("timeout", f"no complete handshake within {timeout}s") from None
    except FrameError as exc:
        raise HandshakeError("bad_frame", str(exc)) from None
    except codec.CodecError as exc:
        raise HandshakeError("malformed", exc.message) from None
    except (PeerClosed, ConnectionError) as exc:
        raise HandshakeError("closed", f"connection closed during the handshake ({exc})") from None


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    role: Role,
    chain_id: str,
    key: KeyPair,
    is_allowed: Callable[[bytes], bool],
    expected_key: bytes | None,
) -> Session:
    ephemeral = X25519PrivateKey.generate()
    ours = Hello(chain_id, key.public_key, ephemeral.public_key().public_bytes_raw())
    writer.write(encode_frame(ours.encode()))
    await writer.drain()
    theirs = Hello.decode(await read_frame(reader, HANDSHAKE_MAX_FRAME))
    _check_hello(theirs, chain_id, key.public_key, is_allowed, expected_key)

    initiator, responder = (ours, theirs) if role is Role.INITIATOR else (theirs, ours)
    th = transcript_hash(chain_id, initiator, responder)
    signature = key.sign(auth_digest(chain_id, role, th))
    writer.write(encode_frame(codec.encode([AUTH_TAG, VERSION, signature])))
    await writer.drain()

    f = codec.expect_record(codec.decode(await read_frame(reader, HANDSHAKE_MAX_FRAME)), AUTH_TAG, VERSION, 1,
                            "auth")
    their_signature = codec.expect_bytes(f[0], "auth.signature", length=SIGNATURE_BYTES)
    peer_role = Role.RESPONDER if role is Role.INITIATOR else Role.INITIATOR
    if not verify(theirs.node_key, auth_digest(chain_id, peer_role, th), their_signature):
        raise HandshakeError("bad_signature", "the peer's handshake signature does not verify")
    return _session(ephemeral, theirs, role, th)


def _check_hello(
    hello: Hello, chain_id: str, own_key: bytes, is_allowed: Callable[[bytes], bool], expected_key: bytes | None
) -> None:
    if hello.chain_id != chain_id:
        raise HandshakeError("wrong_chain", f"peer is on chain {hello.chain_id!r}, we are on {chain_id!r}")
    if hello.node_key == own_key:
        raise HandshakeError("self_connection", "the peer presented our own node key")
    if expected_key is not None and hello.node_key != expected_key:
        raise HandshakeError("unexpected_key", f"dialed {expected_key.hex()[:16]}, "
                                               f"reached {hello.node_key.hex()[:16]}")
    if not is_allowed(hello.node_key):
        raise HandshakeError("not_allowed", f"key {hello.node_key.hex()[:16]} is not in the peer set")


def _session(ephemeral: X25519PrivateKey, theirs: Hello, role: Role, th: bytes) -> Session:
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(theirs.ephemeral_key))
    except ValueError:
        # A low-order point gives an all-zero secret that an attacker could predict.
        raise HandshakeError("bad_ephemeral_key", "the peer's X25519 key is degenerate") from None
    i2r, r2i = derive_session_keys(shared, th)
    send_key, receive_key = (i2r, r2i) if role is Role.INITIATOR else (r2i, i2r)
    return Session(theirs.node_key, role, th, FrameCipher(send_key), FrameCipher(receive_key))
