"""Block sync against hostile answers: what a peer sends is refused unless certified, in order and valid.

Every case runs on real ledgers (LevelDB in a temp dir, ``tests.block_sync_world``): the liar is asked
first (it is the only peer ahead of us), sends its answer, and the answer must be refused with our head
unchanged, no exception escaping ``on_blocks``, the refusal counted in ``bakong_invalid_blocks{code}`` and
the liar penalized; then an honest validator announces its head and the node syncs the real chain from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consensus.certificate import CommitCertificate
from consensus.crypto import hash_bytes
from consensus.messages import sign_precommit
from node.ledger import commands as c
from node.ledger.blocks import decode_block
from tests.block_sync_world import (
    HONEST,
    LIAR,
    OUTSIDER,
    VALIDATORS,
    CertifiedChain,
    Network,
    certificate,
    run,
)

HUGE = 10**9
Pair = tuple[bytes, bytes]


@pytest.fixture
def source(tmp_path: Path) -> Iterator[CertifiedChain]:
    chain = CertifiedChain(tmp_path / "source")  # genesis only: each test forges, then extends
    yield chain
    chain.close()


@pytest.fixture
def net(tmp_path: Path, source: CertifiedChain, monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    network = Network(tmp_path / "node", source, monkeypatch)
    network.connect(LIAR)
    network.connect(HONEST, honest=True)
    yield network
    network.close()


def assert_refused_then_synced(net: Network, source: CertifiedChain, answer: tuple[Pair, ...], code: str,
                               penalty: str = "invalid") -> None:
    """The liar's ``answer`` is refused for ``code``; the honest chain is synced afterwards."""
    head_before = net.head

    async def scenario() -> None:
        net.announce(LIAR, HUGE)
        assert net.last_request_to(LIAR) is not None
        await net.answer(LIAR, *answer)  # must not raise
        assert net.head == head_before
        for _ in range(3):
            await net.tick()

    run(scenario())
    assert net.invalid_blocks(code) == 1
    assert net.head == source.height > head_before
    assert net.node.ledger.block_bytes(net.head) == source.ledger.block_bytes(net.head)
    assert net.node.ledger.head.state_root == source.ledger.head.state_root
    assert net.node.metrics.sync_peer_penalties.labels(penalty)._value.get() == 1


def next_block_bytes(source: CertifiedChain) -> bytes:
    """The honest next block's bytes, built (not committed) ahead of the honest chain."""
    block, _execution = source.build()
    return block.encode()


# ---- the certificate ----

def test_a_block_without_a_certificate_is_refused(net: Network, source: CertifiedChain) -> None:
    block = next_block_bytes(source)
    source.extend(3)
    assert_refused_then_synced(net, source, ((block, b""),), "missing_certificate")


def test_a_block_with_garbage_for_a_certificate_is_refused(net: Network, source: CertifiedChain) -> None:
    block = next_block_bytes(source)
    source.extend(3)
    garbage = b"\x96\x2b\x01garbage"
    assert_refused_then_synced(net, source, ((block, garbage),), "bad_certificate_non_canonical")


def test_a_certificate_of_another_block_is_refused(net: Network, source: CertifiedChain) -> None:
    other = source.forged(created_ms=source.now + 5)
    source.extend(3)
    block, _ = source.pair(1)
    assert_refused_then_synced(net, source, ((block, certificate(other, 1)),), "certificate_mismatch")


def test_a_certificate_of_another_height_is_refused(net: Network, source: CertifiedChain) -> None:
    source.extend(3)
    block, _ = source.pair(1)
    assert_refused_then_synced(net, source, ((block, certificate(block, 2)),), "certificate_mismatch")


def test_a_certificate_signed_for_another_chain_is_refused(net: Network, source: CertifiedChain) -> None:
    source.extend(3)
    block, _ = source.pair(1)
    forged = certificate(block, 1, chain_id="bakong-other")
    assert_refused_then_synced(net, source, ((block, forged),), "bad_signature")


def test_a_certificate_signed_by_a_key_outside_the_validator_set_is_refused(
        net: Network, source: CertifiedChain) -> None:
    block = source.forged(state_root=bytes(32))  # what a certificate from outsiders would let through
    source.extend(3)
    forged = certificate(block, 1, (VALIDATORS[0], VALIDATORS[1], OUTSIDER))
    assert_refused_then_synced(net, source, ((block, forged),), "unknown_signer")


def test_a_certificate_with_too_few_signers_is_refused(net: Network, source: CertifiedChain) -> None:
    block = source.forged(state_root=bytes(32))
    source.extend(3)
    forged = certificate(block, 1, VALIDATORS[:2])  # 2 of 4: the quorum is 3
    assert_refused_then_synced(net, source, ((block, forged),), "no_quorum")


def test_a_certificate_counting_one_signer_twice_is_refused(net: Network, source: CertifiedChain) -> None:
    block = source.forged(state_root=bytes(32))
    source.extend(3)
    value_id = hash_bytes(block)
    votes = [sign_precommit(k, source.chain_id, 1, 0, value_id) for k in VALIDATORS[:2]]
    signatures = [(v.validator, v.signature) for v in votes]
    pairs = tuple(sorted(signatures + signatures[:1]))
    forged = CommitCertificate(1, 0, value_id, pairs).encode()
    assert_refused_then_synced(net, source, ((block, forged),), "duplicate_signer")


def test_a_validator_removed_earlier_cannot_certify_a_later_block(
        net: Network, source: CertifiedChain) -> None:
    removed = VALIDATORS[3]
    # Block 1 removes v3: the validators of height 2 are v0, v1, v2.
    source.extend(1, source.tx("admin@nbc", c.RemovePeer(removed.public_key)))
    run(net.tick())
    assert net.head == 1
    block = source.forged(state_root=bytes(32))
    source.extend(3)
    # Quorum of the old set (3 of 4), but only 2 of them still validate: the new set's quorum is 3 of 3.
    forged = certificate(block, 2, (VALIDATORS[0], VALIDATORS[1], removed))
    assert_refused_then_synced(net, source, ((block, forged),), "unknown_signer")


# ---- the block itself ----

def test_a_certified_block_whose_state_root_is_wrong_is_refused_by_execution(
        net: Network, source: CertifiedChain) -> None:
    # The real validators signed these bytes: only executing the block shows they are wrong.
    block = source.forged(state_root=bytes(32))
    source.extend(3)
    assert_refused_then_synced(net, source, ((block, certificate(block, 1)),), "state_root_mismatch")


def test_a_certified_block_on_another_branch_is_refused_by_execution(
        net: Network, source: CertifiedChain) -> None:
    block = source.forged(prev_hash=b"\x07" * 32)
    source.extend(3)
    assert_refused_then_synced(net, source, ((block, certificate(block, 1)),), "wrong_parent")


def test_garbage_block_bytes_are_refused(net: Network, source: CertifiedChain) -> None:
    source.extend(3)
    assert_refused_then_synced(net, source, ((b"\x95\x05\x01garbage", certificate(b"x", 1)),),
                               "bad_block_non_canonical")


# ---- the order of blocks ----

def test_a_block_beyond_the_next_height_is_refused_as_a_gap(net: Network, source: CertifiedChain) -> None:
    source.extend(3)
    assert_refused_then_synced(net, source, (source.pair(2),), "sync_gap", penalty="refused")


def test_blocks_out_of_order_are_refused(net: Network, source: CertifiedChain) -> None:
    source.extend(3)
    assert_refused_then_synced(net, source, (source.pair(2), source.pair(1)), "sync_gap", penalty="refused")


def test_good_blocks_before_a_bad_one_are_kept_and_the_bad_one_refused(
        net: Network, source: CertifiedChain) -> None:
    source.extend(3)
    bad = (source.pair(3)[0], certificate(source.pair(3)[0], 3, VALIDATORS[:1]))

    async def scenario() -> None:
        net.announce(LIAR, HUGE)
        await net.answer(LIAR, source.pair(1), source.pair(2), bad)
        assert net.head == 2
        await net.tick()

    run(scenario())
    assert net.invalid_blocks("no_quorum") == 1
    assert net.head == 3


def test_a_synced_block_is_the_block_the_certificate_names(net: Network, source: CertifiedChain) -> None:
    source.extend(2)
    run(net.tick())
    block = decode_block(net.node.ledger.block_bytes(2))  # type: ignore[arg-type]
    cert = CommitCertificate.decode(net.node.ledger.certificate(2))  # type: ignore[arg-type]
    assert cert.value_id == hash_bytes(block.encode()) and cert.height == block.height == 2
