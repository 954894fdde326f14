"""Hostile input against the p2p layer: the frame decoder, the AEAD, the handshake, peer and consensus
message decoding, and a live transport on 127.0.0.1.

Every byte a node reads from a peer passes through one of these, and the first of them (frames and the
handshake) before the peer has proved who it is, so a stranger can aim anything at them. The
requirement: no crash, no unbounded memory, a clear (typed) error every time, and the node keeps
serving. What is fuzzed, with random bytes and with mutations of valid encodings (bit flips, byte
replacements, msgpack type-byte swaps, truncations, extensions, insertions, deletions, splices):

- ``decode_peer_message`` and ``consensus.messages.decode_message``: only ``codec.CodecError`` ever
  escapes, and whatever decodes re-encodes to exactly the bytes it came from (one value, one encoding);
- ``Hello.decode`` and the whole ``perform_handshake`` over in-memory streams: only ``HandshakeError``
  escapes, with exactly the code the bytes deserve (a small model of the protocol's order of checks
  says which), including a correctly signed peer with a degenerate X25519 key;
- ``read_frame`` and ``FrameCipher``: a declared length over the cap is refused before any of the body
  is read, and random or tampered ciphertext never decrypts (``FrameError`` every time);
- a real ``Transport`` (one server for the module, on a background event loop): hostile bytes before
  and after the handshake drop the connection, move the counters the verdict calls for, report no
  internal error, and a legitimate peer's link keeps delivering after every single example.

``HOSTILE_INPUTS`` counts the inputs tried, per surface; it is printed at the end of the module
(``pytest -s``), so a long run (``HYPOTHESIS_PROFILE=long``) can say how many it threw. The socket tests
check the transport's refusal codes through its log records (each carries the typed error as an arg).

The fuzz found that ``codec.expect_record`` took msgpack ``true`` for version 1 (``True == 1``), so a
record decoded from bytes that are not its encoding; ``test_a_record_whose_version_is_true_instead_of_1_
is_refused`` keeps it fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import event, given
from hypothesis import strategies as st

from consensus import codec
from consensus.codec import CodecError
from consensus.crypto import KeyPair
from consensus.messages import (
    MAX_HEIGHT,
    MAX_ROUND,
    PRECOMMIT_TAG,
    PREVOTE_TAG,
    PROPOSAL_TAG,
    Precommit,
    Prevote,
    Proposal,
    SignedMessage,
    decode_message,
    encode_message,
)
from node.p2p.frames import (
    AEAD_TAG_BYTES,
    HANDSHAKE_MAX_FRAME,
    HEADER,
    FrameCipher,
    FrameError,
    PeerClosed,
    encode_frame,
    read_frame,
)
from node.p2p.handshake import (
    AUTH_TAG,
    KEY_REFUSAL_CODES,
    VERSION,
    HandshakeError,
    Hello,
    Role,
    auth_digest,
    perform_handshake,
    transcript_hash,
)
from node.p2p.link import TransportCounters
from node.p2p.messages import (
    CONSENSUS,
    HEAD_ANNOUNCE,
    MAX_GOSSIP_TXS,
    MAX_SYNC_BLOCKS,
    SYNC_BLOCKS,
    SYNC_REQUEST,
    TX_GOSSIP,
    ConsensusWire,
    HeadAnnounce,
    PeerMessage,
    SyncBlocks,
    SyncRequest,
    TxGossip,
    decode_peer_message,
    encode_peer_message,
)
from tests.ledger.test_codec import as_lists, values
from tests.p2p.test_transport import (
    CHAIN,
    HOST,
    Node,
    closed_by_peer,
    linked,
    rogue_session,
    started,
    still_serves,
)

HOSTILE_INPUTS: Counter[str] = Counter()
MAX_MESSAGE: Final = 64 * 1024  # the cap handed to decode_peer_message / decode_message here
SERVER_MAX_FRAME: Final = 4096  # small, so random length headers after the handshake hit both sides of it
SERVER_KEY: Final = KeyPair.from_seed(b"\x01" * 32)  # the node under attack (in memory and on the socket)
ROGUE: Final = KeyPair.from_seed(b"\x02" * 32)  # a stranger the node allows
REFUSED: Final = KeyPair.from_seed(b"\x03" * 32)  # a key the node's is_allowed says no to
EPHEMERAL: Final = X25519PrivateKey.from_private_bytes(b"\x04" * 32).public_key().public_bytes_raw()
# X25519 points of small order: the shared secret with any private key is all zeros (RFC 7748, sec. 6.1).
LOW_ORDER_POINTS: Final = [bytes.fromhex(h) for h in (
    "00" * 32,
    "01" + "00" * 31,
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ec" + "ff" * 30 + "7f",
    "ed" + "ff" * 30 + "7f",
    "ee" + "ff" * 30 + "7f",
)]
HANDSHAKE_CODES: Final = frozenset({"bad_frame", "malformed", "closed", "wrong_chain", "self_connection",
                                    "unexpected_key", "not_allowed", "bad_signature"})

T = TypeVar("T")


def tried(surface: str) -> None:
    HOSTILE_INPUTS[surface] += 1


@pytest.fixture(scope="module", autouse=True)
def report_hostile_inputs() -> Iterator[None]:
    yield
    breakdown = ", ".join(f"{surface} {n}" for surface, n in sorted(HOSTILE_INPUTS.items()))
    print(f"\nhostile p2p inputs tried: {sum(HOSTILE_INPUTS.values())} ({breakdown})")


# ---- mutations of valid encodings ----

EDITS: Final = ("flip", "replace", "marker", "truncate", "extend", "insert", "delete", "splice")
# msgpack type bytes a structure-aware edit swaps in: nil, false, true, fixints, empty and one-item
# array and str, bin8, unsigned/signed ints of each width, str8, array16/32, the never-used 0xc1,
# a map, an ext and a float.
MARKERS: Final = bytes([0xC0, 0xC2, 0xC3, 0x00, 0x01, 0x7F, 0xFF, 0x90, 0x91, 0xA0, 0xA1, 0xC4, 0xCC, 0xCD,
                        0xCE, 0xCF, 0xD0, 0xD3, 0xD9, 0xDC, 0xDD, 0xC1, 0x80, 0xD4, 0xCA])


@dataclass(frozen=True)
class Edit:
    """One edit of a byte string, positioned by ``at`` modulo its length (so it fits any input)."""

    kind: str
    at: int
    extra: bytes

    def apply(self, data: bytes) -> bytes:
        if not data:
            return self.extra
        i, n = self.at % len(data), len(self.extra)
        if self.kind == "flip":
            out = data[:i] + bytes([data[i] ^ (1 << (self.at // len(data)) % 8)]) + data[i + 1:]
        elif self.kind == "replace":
            out = data[:i] + self.extra[:1] + data[i + 1:]
        elif self.kind == "marker":
            out = data[:i] + bytes([MARKERS[self.extra[0] % len(MARKERS)]]) + data[i + 1:]
        elif self.kind == "truncate":
            out = data[:i]
        elif self.kind == "extend":
            out = data + self.extra
        elif self.kind == "insert":
            out = data[:i] + self.extra + data[i:]
        elif self.kind == "delete":
            out = data[:i] + data[i + n:]
        else:
            out = data[:i] + self.extra + data[i + n:]
        return out


edit_lists = st.lists(st.builds(Edit, st.sampled_from(EDITS), st.integers(0, 2**20),
                                st.binary(min_size=1, max_size=16)), min_size=1, max_size=3)


def mutate(data: bytes, edits: list[Edit]) -> bytes:
    """``data`` after ``edits``; never ``data`` itself (a no-op edit becomes an extension)."""
    out = data
    for edit in edits:
        out = edit.apply(out)
    return out if out != data else data + edits[-1].extra


def mutated(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.builds(mutate, valid, edit_lists)


# ---- valid encodings to start from ----

keys32 = st.binary(min_size=32, max_size=32)
sigs64 = st.binary(min_size=64, max_size=64)
heights = st.integers(0, MAX_HEIGHT)
rounds = st.integers(0, MAX_ROUND)
# Signatures are random: decoding never verifies them, and random ones keep the strategy cheap.
consensus_messages: st.SearchStrategy[SignedMessage] = st.one_of(
    st.builds(Proposal, heights, rounds, st.binary(max_size=200), st.integers(-1, MAX_ROUND), keys32, sigs64),
    st.builds(Prevote, heights, rounds, st.none() | keys32, keys32, sigs64),
    st.builds(Precommit, heights, rounds, st.none() | keys32, keys32, sigs64),
)
u64 = st.integers(0, 2**64 - 1)
peer_messages: st.SearchStrategy[PeerMessage] = st.one_of(
    st.builds(TxGossip, st.lists(st.binary(max_size=100), max_size=5).map(tuple)),
    st.builds(ConsensusWire, st.binary(max_size=100) | consensus_messages.map(encode_message)),
    st.builds(SyncRequest, u64, st.integers(1, MAX_SYNC_BLOCKS)),
    st.builds(SyncBlocks, st.lists(st.tuples(st.binary(max_size=100), st.binary(max_size=100)),
                                   max_size=4).map(tuple)),
    st.builds(HeadAnnounce, u64, keys32),
)
# Fields that are sometimes exactly right and sometimes almost: for records with a known tag.
fields = (values | st.none() | keys32 | sigs64 | st.integers(-2, 2**64 - 1)
          | st.lists(keys32 | st.tuples(st.binary(max_size=8), st.binary(max_size=8)).map(list), max_size=3))


def assert_reencodes(data: bytes, again: bytes) -> None:
    """A decoded record must re-encode to exactly its input bytes."""
    if again != data:
        raise AssertionError(f"{data.hex()} decoded, but its value encodes as {again.hex()}")


# ---- peer messages (node/p2p/messages.py) ----


def decode_peer_or_refuse(data: bytes) -> None:
    """The contract: a CodecError, or a message whose encoding is exactly ``data``."""
    tried("peer message")
    try:
        message = decode_peer_message(data, MAX_MESSAGE)
    except CodecError:
        return
    assert_reencodes(data, encode_peer_message(message))


@given(peer_messages)
def test_every_peer_message_round_trips_through_its_encoding(message: PeerMessage) -> None:
    assert decode_peer_message(encode_peer_message(message), MAX_MESSAGE) == message


@given(st.binary(max_size=400))
def test_random_bytes_as_a_peer_message_raise_only_codec_errors(data: bytes) -> None:
    decode_peer_or_refuse(data)


@given(mutated(peer_messages.map(encode_peer_message)))
def test_a_mutated_peer_message_is_refused_with_a_codec_error_or_decodes_to_exactly_its_bytes(
        data: bytes) -> None:
    decode_peer_or_refuse(data)


@given(st.sampled_from([TX_GOSSIP, CONSENSUS, SYNC_REQUEST, SYNC_BLOCKS, HEAD_ANNOUNCE, 0, 25]),
       st.lists(fields, max_size=3))
def test_a_peer_record_with_arbitrary_fields_is_refused_or_decodes_to_exactly_its_bytes(
        tag: int, items: list[Any]) -> None:
    decode_peer_or_refuse(codec.encode([tag, VERSION, *items]))


@given(peer_messages, st.data())
def test_a_peer_message_over_the_size_cap_is_refused_before_it_is_decoded(message: PeerMessage,
                                                                          data: st.DataObject) -> None:
    encoded = encode_peer_message(message)
    cap = data.draw(st.integers(0, len(encoded) - 1), label="cap")
    tried("peer message")
    with pytest.raises(codec.InputTooLarge):
        decode_peer_message(encoded, cap)


@pytest.mark.parametrize("record", [
    [TX_GOSSIP, VERSION, [b""] * (MAX_GOSSIP_TXS + 1)],
    [SYNC_BLOCKS, VERSION, [[b"", b""]] * (MAX_SYNC_BLOCKS + 1)],
    [SYNC_REQUEST, VERSION, 0, MAX_SYNC_BLOCKS + 1],
    [SYNC_REQUEST, VERSION, 0, 0],
    [SYNC_REQUEST, VERSION, -1, 1],
    [HEAD_ANNOUNCE, VERSION, 1, b"\x00" * 31],
], ids=["too-many-txs", "too-many-blocks", "sync-over-max", "sync-zero", "negative-height", "short-hash"])
def test_a_peer_message_over_its_item_limits_is_refused_as_unexpected_shape(record: list[Any]) -> None:
    tried("peer message")
    with pytest.raises(codec.UnexpectedShape):
        decode_peer_message(codec.encode(record), 2 * 1024 * 1024)


# ---- consensus messages (consensus/messages.py; fixed examples are in tests/consensus) ----


def decode_consensus_or_refuse(data: bytes) -> None:
    tried("consensus message")
    try:
        message = decode_message(data, MAX_MESSAGE)
    except CodecError:
        return
    assert_reencodes(data, encode_message(message))


@given(st.binary(max_size=400))
def test_random_bytes_as_a_consensus_message_raise_only_codec_errors(data: bytes) -> None:
    decode_consensus_or_refuse(data)


@given(mutated(consensus_messages.map(encode_message)))
def test_a_mutated_consensus_message_is_refused_with_a_codec_error_or_decodes_to_exactly_its_bytes(
        data: bytes) -> None:
    decode_consensus_or_refuse(data)


@given(st.sampled_from([PROPOSAL_TAG, PREVOTE_TAG, PRECOMMIT_TAG, 39, 43]),
       st.lists(fields, min_size=4, max_size=7))
def test_a_consensus_record_with_arbitrary_fields_is_refused_or_decodes_to_exactly_them(
        tag: int, items: list[Any]) -> None:
    tried("consensus message")
    try:
        message = decode_message(codec.encode([tag, VERSION, *items]), MAX_MESSAGE)
    except CodecError:
        return
    assert message.to_record() == [tag, VERSION, *as_lists(items)]


# ---- the handshake (node/p2p/handshake.py), over in-memory streams ----


class Refusal(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def take_frame(stream: bytes, cap: int) -> tuple[bytes, bytes]:
    """(first frame body, the rest), or Refusal: ``closed`` (stream ends early), ``frame_too_large``."""
    if len(stream) < HEADER.size:
        raise Refusal("closed")
    (length,) = HEADER.unpack_from(stream)
    if length > cap:
        raise Refusal("frame_too_large")
    body = stream[HEADER.size:HEADER.size + length]
    if len(body) < length:
        raise Refusal("closed")
    return body, stream[HEADER.size + length:]


def handshake_verdict(stream: bytes, *, own_key: bytes, expected_key: bytes | None = None) -> str:
    """The code a node must refuse ``stream`` with, read off the protocol (docs/p2p.md) step by step.

    ``stream`` is everything the stranger sends, then the connection ends; it cannot hold a valid
    signature, since that would cover the node's fresh ephemeral key."""
    try:
        body, rest = take_frame(stream, HANDSHAKE_MAX_FRAME)
        hello = Hello.decode(body)
        if hello.chain_id != CHAIN:
            return "wrong_chain"
        if hello.node_key == own_key:
            return "self_connection"
        if expected_key is not None and hello.node_key != expected_key:
            return "unexpected_key"
        if hello.node_key == REFUSED.public_key:
            return "not_allowed"
        body, _ = take_frame(rest, HANDSHAKE_MAX_FRAME)
        auth = codec.expect_record(codec.decode(body), AUTH_TAG, VERSION, 1, "auth")
        codec.expect_bytes(auth[0], "auth.signature", length=64)
        return "bad_signature"
    except Refusal as refusal:
        return "bad_frame" if refusal.code == "frame_too_large" else refusal.code
    except CodecError:
        return "malformed"


def hello_frame(chain: str = CHAIN, key: bytes = ROGUE.public_key, ephemeral: bytes = EPHEMERAL) -> bytes:
    return encode_frame(Hello(chain, key, ephemeral).encode())


AUTH_FRAME: Final = encode_frame(codec.encode([AUTH_TAG, VERSION, b"\x05" * 64]))
noise = st.binary(max_size=300)
# Hello fields a stranger may pick: right or wrong chain, an allowed, refused, our own or any key.
hellos = st.builds(hello_frame, st.just(CHAIN) | st.text(max_size=130),
                   st.sampled_from([ROGUE.public_key, REFUSED.public_key, SERVER_KEY.public_key]) | keys32,
                   st.just(EPHEMERAL) | keys32)
handshake_streams = st.one_of(
    noise,
    noise.map(encode_frame),  # noise in a well-formed frame
    st.integers(HANDSHAKE_MAX_FRAME + 1, 2**32 - 1).map(HEADER.pack),  # a length over the cap, no body
    st.builds(lambda hello, tail: hello + tail, mutated(st.just(hello_frame())), st.just(b"") | noise),
    st.builds(lambda hello, auth: hello + auth, hellos, noise | mutated(st.just(AUTH_FRAME))),
    st.builds(lambda auth: hello_frame() + auth, mutated(st.just(AUTH_FRAME))),
)


class MemoryWriter:
    """The write half of a stream for ``perform_handshake``: keeps what was written."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.wrote = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.sent += data
        self.wrote.set()

    async def drain(self) -> None:
        return None


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(5.0):
            return await coro

    return asyncio.run(bounded())


async def handshake_with(stream: bytes, role: Role, expected_key: bytes | None) -> HandshakeError:
    """Run our side of the handshake against ``stream`` (then end of stream); return its refusal."""
    reader = asyncio.StreamReader()
    reader.feed_data(stream)
    reader.feed_eof()
    with pytest.raises(HandshakeError) as refused:
        await perform_handshake(reader, cast(asyncio.StreamWriter, MemoryWriter()), role=role, chain_id=CHAIN,
                                key=SERVER_KEY, is_allowed=lambda k: k != REFUSED.public_key,
                                expected_key=expected_key, timeout=2.0)
    return refused.value


@given(noise | mutated(st.just(hello_frame()[HEADER.size:])))
def test_random_or_mutated_bytes_as_a_hello_raise_only_codec_errors_or_decode_to_exactly_them(
        data: bytes) -> None:
    tried("hello")
    try:
        hello = Hello.decode(data)
    except CodecError:
        return
    assert_reencodes(data, hello.encode())


@given(handshake_streams, st.sampled_from(Role),
       st.sampled_from([None, ROGUE.public_key, REFUSED.public_key]))
def test_hostile_bytes_in_a_handshake_end_it_with_the_handshake_error_they_deserve(
        stream: bytes, role: Role, expected_key: bytes | None) -> None:
    tried("handshake")
    if role is Role.RESPONDER:
        expected_key = None  # only the dialer knows whom it dialed
    refusal = run_async(handshake_with(stream, role, expected_key))
    event(refusal.code)
    assert refusal.code in HANDSHAKE_CODES
    assert refusal.code == handshake_verdict(stream, own_key=SERVER_KEY.public_key, expected_key=expected_key)


def degenerate(ephemeral: bytes) -> bool:
    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(ephemeral))
    except ValueError:
        return True
    return False


@given(st.sampled_from(LOW_ORDER_POINTS) | keys32, st.sampled_from(Role))
def test_a_correctly_signed_peer_with_any_ephemeral_key_completes_or_is_refused_as_degenerate(
        ephemeral: bytes, role: Role) -> None:
    async def scenario() -> str:
        reader, writer = asyncio.StreamReader(), MemoryWriter()
        ours = Hello(CHAIN, ROGUE.public_key, ephemeral)
        reader.feed_data(encode_frame(ours.encode()))
        task = asyncio.create_task(perform_handshake(
            reader, cast(asyncio.StreamWriter, writer), role=role, chain_id=CHAIN, key=SERVER_KEY,
            is_allowed=lambda _k: True, timeout=2.0))
        await writer.wrote.wait()
        theirs = Hello.decode(take_frame(bytes(writer.sent), HANDSHAKE_MAX_FRAME)[0])
        initiator, responder = (theirs, ours) if role is Role.INITIATOR else (ours, theirs)
        peer_role = Role.RESPONDER if role is Role.INITIATOR else Role.INITIATOR
        signature = ROGUE.sign(auth_digest(CHAIN, peer_role, transcript_hash(CHAIN, initiator, responder)))
        reader.feed_data(encode_frame(codec.encode([AUTH_TAG, VERSION, signature])))
        reader.feed_eof()
        try:
            session = await task
        except HandshakeError as exc:
            assert exc.code == "bad_ephemeral_key" and degenerate(ephemeral), exc
            return exc.code
        assert not degenerate(ephemeral) and session.peer_key == ROGUE.public_key
        return "completed"

    tried("handshake")
    event(run_async(scenario()))


# ---- frames and the AEAD (node/p2p/frames.py) ----


@given(st.integers(0, 2**20), st.data())
def test_a_declared_length_over_the_cap_is_refused_before_any_of_the_body_is_read(
        cap: int, data: st.DataObject) -> None:
    length = data.draw(st.integers(cap + 1, 2**32 - 1), label="length")
    following = data.draw(st.binary(min_size=1, max_size=64), label="following")

    async def scenario() -> bytes:
        reader = asyncio.StreamReader()  # no end of stream: waiting for the body would hang
        reader.feed_data(HEADER.pack(length) + following)
        with pytest.raises(FrameError) as refused:
            await read_frame(reader, cap)
        assert refused.value.code == "frame_too_large"
        return await reader.read(len(following))

    tried("frame")
    assert run_async(scenario()) == following  # nothing after the header was consumed


@given(st.binary(max_size=300), st.integers(0, 400))
def test_any_byte_stream_reads_as_one_frame_within_the_cap_or_a_typed_refusal(stream: bytes,
                                                                               cap: int) -> None:
    async def scenario() -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(stream)
        reader.feed_eof()
        return await read_frame(reader, cap)

    tried("frame")
    try:
        expected = take_frame(stream, cap)[0]
    except Refusal as refusal:
        error = PeerClosed if refusal.code == "closed" else FrameError
        with pytest.raises(error):
            run_async(scenario())
    else:
        assert run_async(scenario()) == expected and len(expected) <= cap


@given(keys32, st.binary(max_size=300), st.integers(0, 3))
def test_random_bytes_never_decrypt_and_raise_a_frame_error(key: bytes, ciphertext: bytes,
                                                            position: int) -> None:
    sender, receiver = FrameCipher(key), FrameCipher(key)
    for _ in range(position):  # at any point of the session, not only its first frame
        assert receiver.open(sender.seal(b"genuine")) == b"genuine"
    tried("frame")
    with pytest.raises(FrameError) as refused:
        receiver.open(ciphertext)
    short = len(ciphertext) < AEAD_TAG_BYTES
    assert refused.value.code == ("short_ciphertext" if short else "decrypt_failed")


@given(keys32, st.binary(max_size=300), edit_lists)
def test_a_tampered_frame_never_decrypts_and_raises_a_frame_error(key: bytes, plaintext: bytes,
                                                                   edits: list[Edit]) -> None:
    sealed = FrameCipher(key).seal(plaintext)
    tried("frame")
    with pytest.raises(FrameError):
        FrameCipher(key).open(mutate(sealed, edits))


# ---- regressions ----


@pytest.mark.parametrize("decode, data", [
    (lambda b: decode_peer_message(b, MAX_MESSAGE), bytes.fromhex("9314c390")),  # [20, true, []]
    (decode_message, codec.encode([PREVOTE_TAG, True, 1, 0, None, b"\x00" * 32, b"\x00" * 64])),
    (Hello.decode, codec.encode([70, True, CHAIN, ROGUE.public_key, EPHEMERAL])),
], ids=["tx-gossip", "prevote", "hello"])
def test_a_record_whose_version_is_true_instead_of_1_is_refused(decode: Callable[[bytes], object],
                                                                data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)


# ---- a live transport on 127.0.0.1 ----


class LiveServer:
    """A transport under attack plus a legitimate peer linked to it, on a background event loop that
    lives for the module (a server per example would make the socket tests slow)."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []
        self.refusals: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda _loop, context: self.errors.append(context))
        self.thread = threading.Thread(target=self.loop.run_forever, name="p2p-under-attack", daemon=True)
        self.thread.start()
        self.nodes: list[Node] = []
        self.sent = 0
        self.arrived: asyncio.Future[bytes] | None = None
        self.server, self.good = self.run(self._start())
        self.baseline_tasks = self.run(self._task_count())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> tuple[Node, Node]:
        (server,) = await started(self.nodes, key=SERVER_KEY, max_frame=SERVER_MAX_FRAME)
        server.refuse.add(REFUSED.public_key)
        (good,) = await started(self.nodes)
        await linked(good, server)
        server.handle = self._on_message
        return server, good

    def _on_message(self, peer: bytes, payload: bytes) -> None:
        self.server.inbox.append((peer, payload))
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(payload)

    async def _task_count(self) -> int:
        """Tasks on the loop (the transports' own), once a moment has passed for closes to finish."""
        await asyncio.sleep(0.05)
        return len(asyncio.all_tasks()) - 1  # not this one

    async def still_delivers(self) -> None:
        """The legitimate peer's link is up and a fresh payload gets through it."""
        assert self.server.t.connected() == {self.good.pk}
        self.sent += 1
        self.arrived = asyncio.get_running_loop().create_future()
        assert self.good.t.send(self.server.pk, b"alive %d" % self.sent)
        assert await asyncio.wait_for(self.arrived, 2.0) == b"alive %d" % self.sent

    def check_clean(self, since: int = 0) -> None:
        """No bug reported by the transport (since error number ``since``: one example's share)."""
        assert self.errors[since:] == [], self.errors[since:]
        assert self.server.t.counters.internal_errors == 0

    def close(self) -> None:
        async def shut() -> None:
            for node in self.nodes:
                await node.t.close()

        try:
            self.run(shut())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


class RefusalLog(logging.Handler):
    """Collects the codes of the refusals the transport logs (each carries its typed error)."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.INFO)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.into.extend(a.code for a in args if isinstance(a, (HandshakeError, FrameError)))


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    logger = logging.getLogger("bakong.p2p")
    level = logger.level
    server = LiveServer()
    handler = RefusalLog(server.refusals)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield server
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        server.close()


async def send_and_wait_for_the_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                      stream: bytes, *, end: bool) -> None:
    """Send ``stream``; half-close only when ``end`` (the bytes alone do not settle the verdict)."""
    writer.write(stream)
    if end:
        writer.write_eof()
    assert await closed_by_peer(reader)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def counter_deltas(before: TransportCounters, after: TransportCounters) -> dict[str, int]:
    return {name: getattr(after, name) - getattr(before, name)
            for name in ("handshakes_ok", "handshakes_failed", "bad_frames", "refused_keys")}


@given(handshake_streams)
def test_garbage_before_the_handshake_drops_the_connection_counts_it_and_the_node_keeps_serving(
        live: LiveServer, stream: bytes) -> None:
    verdict = handshake_verdict(stream, own_key=SERVER_KEY.public_key)

    async def attack() -> None:
        before = replace(live.server.t.counters)
        live.refusals.clear()
        reader, writer = await asyncio.open_connection(HOST, live.server.port)
        await send_and_wait_for_the_close(reader, writer, stream, end=verdict == "closed")
        assert live.refusals == [verdict]
        assert counter_deltas(before, live.server.t.counters) == {
            "handshakes_ok": 0, "handshakes_failed": 1,
            "bad_frames": int(verdict in ("bad_frame", "malformed")),
            "refused_keys": int(verdict in KEY_REFUSAL_CODES),
        }
        await live.still_delivers()

    tried("socket before the handshake")
    event(verdict)
    since = len(live.errors)
    live.run(attack())
    live.check_clean(since)


def frame_verdict(stream: bytes) -> str:
    """What a session's reader must make of ``stream`` when it cannot hold an authentic frame."""
    try:
        body, _ = take_frame(stream, SERVER_MAX_FRAME)
    except Refusal as refusal:
        return refusal.code
    return "short_ciphertext" if len(body) < AEAD_TAG_BYTES else "decrypt_failed"


@dataclass(frozen=True)
class Tampered:
    """A genuine sealed frame of ``plaintext`` (next nonce of the session), its ciphertext edited."""

    plaintext: bytes
    edits: list[Edit]

    def against(self, cipher: FrameCipher) -> bytes:
        return encode_frame(mutate(cipher.seal(self.plaintext), self.edits))


session_garbage = st.one_of(
    noise,
    noise.map(encode_frame),
    st.integers(SERVER_MAX_FRAME + 1, 2**32 - 1).map(HEADER.pack),  # a length over the cap, no body
    st.builds(Tampered, st.binary(max_size=200), edit_lists),
)


@given(session_garbage)
def test_garbage_after_the_handshake_drops_the_peer_counts_it_and_the_node_keeps_serving(
        live: LiveServer, garbage: bytes | Tampered) -> None:
    async def attack() -> str:
        rogue = KeyPair.generate()
        reader, writer, session = await rogue_session(live.server, rogue)
        async with asyncio.timeout(2.0):  # the server registers the link just after our handshake ends
            while rogue.public_key not in live.server.t.connected():
                await asyncio.sleep(0.001)
        stream = garbage.against(session.sender) if isinstance(garbage, Tampered) else garbage
        verdict = frame_verdict(stream)
        before = replace(live.server.t.counters)
        live.refusals.clear()
        await send_and_wait_for_the_close(reader, writer, stream, end=verdict == "closed")
        assert rogue.public_key not in live.server.t.connected()
        assert live.refusals == ([] if verdict == "closed" else [verdict])
        assert live.server.t.counters.bad_frames - before.bad_frames == int(verdict != "closed")
        assert live.server.t.counters.frames_in == before.frames_in
        await live.still_delivers()
        return verdict

    tried("socket after the handshake")
    since = len(live.errors)
    event(live.run(attack()))
    live.check_clean(since)


def test_after_all_the_hostile_connections_nothing_is_left_behind_and_a_new_peer_is_served(
        live: LiveServer) -> None:
    assert live.run(live._task_count()) == live.baseline_tasks
    live.run(still_serves(live.server, live.nodes))
    live.check_clean()
