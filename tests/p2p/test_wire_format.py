"""The node-to-node wire as docs/p2p.md defines it, pinned so that two builds keep talking.

Every constant here is written out as the spec gives it (record tags 70/71/72, version 1, the HKDF info
strings, the 96-bit nonce counter, the frame caps), never imported from the code under test: a change to
one of them on one side only is a network that splits at the next upgrade. The handshake is driven by
hand from a raw socket against a real transport; the frame limits and the cipher with in-memory streams.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from consensus import codec
from consensus.crypto import Domain, KeyPair, signing_digest, verify
from node.p2p.errors import FrameError, HandshakeError, PeerClosed
from node.p2p.frames import DEFAULT_MAX_FRAME, HANDSHAKE_MAX_FRAME, FrameCipher, encode_frame, read_frame
from node.p2p.handshake import Hello, Role, perform_handshake
from tests.p2p.test_transport import CHAIN, HOST, Node, run_clean, started, wait_until

NONCE_LIMIT = 2**96  # the nonce is a 96-bit big-endian counter


def raw(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


async def frame_of(data: bytes, max_frame: int) -> bytes:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return await read_frame(reader, max_frame)


# ---- frames and the cipher ----

def test_a_frame_of_exactly_the_cap_is_read_and_one_byte_more_is_refused_unread() -> None:
    assert asyncio.run(frame_of(encode_frame(b"x" * 1024), 1024)) == b"x" * 1024
    with pytest.raises(FrameError, match="declared 1025 bytes, cap is 1024"):
        asyncio.run(frame_of(encode_frame(b"x" * 1025), 1024))
    assert HANDSHAKE_MAX_FRAME == 1024  # docs/p2p.md: handshake records are capped at 1 KiB


def test_a_stream_ending_inside_a_frame_or_its_header_is_a_closed_peer() -> None:
    with pytest.raises(PeerClosed, match="end of stream inside a frame"):
        asyncio.run(frame_of(encode_frame(b"x" * 100)[:50], 1024))
    with pytest.raises(PeerClosed, match=r"^end of stream$"):
        asyncio.run(frame_of(b"\x00\x00", 1024))


def test_a_maximal_payload_sealed_fits_the_default_frame_cap() -> None:
    payload = bytes(16 * 1024 * 1024)  # node.ledger.limits.MAX_FRAME_PAYLOAD: a maximal block and envelope
    sealed = FrameCipher(bytes(32)).seal(payload)
    assert len(sealed) == len(payload) + 16 <= DEFAULT_MAX_FRAME
    assert asyncio.run(frame_of(encode_frame(sealed), DEFAULT_MAX_FRAME)) == sealed


def test_an_empty_payload_round_trips_and_a_body_shorter_than_the_tag_is_refused_as_such() -> None:
    sender, receiver = FrameCipher(bytes(32)), FrameCipher(bytes(32))
    assert receiver.open(sender.seal(b"")) == b""
    with pytest.raises(FrameError) as refused:
        FrameCipher(bytes(32)).open(b"x" * 15)
    assert refused.value.code == "short_ciphertext"


def test_the_last_nonce_is_used_once_and_then_the_cipher_refuses_rather_than_wrap() -> None:
    sender, receiver = FrameCipher(bytes(32)), FrameCipher(bytes(32))
    sender._counter = receiver._counter = NONCE_LIMIT - 1  # private: 2**96 frames cannot be sent in a test
    assert receiver.open(sender.seal(b"last")) == b"last"
    with pytest.raises(OverflowError, match="nonce counter exhausted"):
        sender.seal(b"one too many")


def test_nonces_are_the_big_endian_counter_from_zero() -> None:
    sender, key = FrameCipher(b"k" * 32), ChaCha20Poly1305(b"k" * 32)
    for counter in range(3):
        message = b"frame %d" % counter
        assert key.decrypt(counter.to_bytes(12, "big"), sender.seal(message), None) == message


# ---- the handshake, by hand against a real transport ----

def test_a_hand_built_handshake_from_the_spec_is_accepted_and_its_keys_carry_a_message() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes)
        client_key, ephemeral = KeyPair.generate(), X25519PrivateKey.generate()
        reader, writer = await asyncio.open_connection(HOST, server.port)
        tag, version, chain, server_key, server_ephemeral = codec.decode(await read_frame(reader, 1024))
        assert (tag, version, chain, server_key) == (70, 1, CHAIN, server.pk)
        writer.write(encode_frame(codec.encode([70, 1, CHAIN, client_key.public_key, raw(ephemeral)])))
        th = hashlib.sha256(codec.encode([72, 1, CHAIN, client_key.public_key, server.pk, raw(ephemeral),
                                          server_ephemeral])).digest()
        tag, version, signature = codec.decode(await read_frame(reader, 1024))
        assert (tag, version) == (71, 1)
        assert verify(server.pk, signing_digest(Domain.HANDSHAKE, CHAIN, b"responder" + th), signature)
        ours = client_key.sign(signing_digest(Domain.HANDSHAKE, CHAIN, b"initiator" + th))
        writer.write(encode_frame(codec.encode([71, 1, ours])))
        await wait_until(lambda: client_key.public_key in server.t.connected())

        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(server_ephemeral))
        to_server = HKDF(algorithm=hashes.SHA256(), length=32, salt=th,
                         info=b"bakong.p2p.v1 initiator->responder").derive(shared)
        from_server = HKDF(algorithm=hashes.SHA256(), length=32, salt=th,
                           info=b"bakong.p2p.v1 responder->initiator").derive(shared)
        writer.write(encode_frame(FrameCipher(to_server).seal(b"hello by hand")))
        await wait_until(lambda: server.inbox == [(client_key.public_key, b"hello by hand")])
        assert server.t.send(client_key.public_key, b"and back")
        assert FrameCipher(from_server).open(await read_frame(reader, DEFAULT_MAX_FRAME)) == b"and back"
        writer.close()

    run_clean(scenario)


async def handshake_error(server: Node, key: KeyPair, chain: str = CHAIN) -> str:
    """The code our side of a handshake to ``server`` fails with (under ``key`` and ``chain``)."""
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        await perform_handshake(reader, writer, role=Role.INITIATOR, chain_id=chain, key=key,
                                is_allowed=lambda _k: True, expected_key=server.pk, timeout=2.0)
    except HandshakeError as exc:
        return exc.code
    finally:
        writer.close()
    return "no error"


def test_a_peer_on_another_chain_is_named_as_such_not_as_a_bad_signature() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes)
        assert await handshake_error(server, KeyPair.generate(), chain="another-chain") == "wrong_chain"

    run_clean(scenario)


def test_a_connection_back_to_ourselves_is_refused_even_though_every_signature_verifies() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes)
        assert await handshake_error(server, server.key) == "self_connection"  # a reflected dial
        assert server.t.connected() == set()

    run_clean(scenario)


def test_a_chain_id_of_128_characters_is_the_longest_a_hello_carries() -> None:
    key, ephemeral = b"k" * 32, b"e" * 32
    assert Hello.decode(Hello("c" * 128, key, ephemeral).encode()).chain_id == "c" * 128
    with pytest.raises(codec.CodecError):
        Hello.decode(Hello("c" * 129, key, ephemeral).encode())
