"""Blocks are bounded in bytes wherever they are built, validated, sent, synced and stored.

Review bug (02865ef): ``build_block`` bounded a block by transaction count only. Any customer may set
4 KB details on itself, up to 64 KB per transaction; 420 such transactions made ~22 MiB blocks that
did not fit a p2p frame (the send raised inside the consensus driver and the validator exited) nor
the safety record's decoding limit (the validator could not restart). The limits now derive from one
place (``node.limits``), and these tests pin the chain of "fits" from the block to the wire.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consensus.certificate import MAX_SIGNATURES, CommitCertificate
from consensus.crypto import KeyPair
from consensus.messages import decode_message, encode_message, sign_precommit, sign_proposal
from node.ledger import limits
from node.ledger.blocks import decode_block
from node.ledger.commands import SetAccountDetail
from node.ledger.errors import InvalidBlock
from node.ledger.transactions import MAX_TX_BYTES, Transaction
from node.p2p.frames import AEAD_TAG_BYTES
from node.p2p.messages import ConsensusWire, SyncBlocks, decode_peer_message, encode_peer_message
from node.p2p.network import MAX_FRAME
from tests.ledger_world import Chain

DETAILS_PER_TX = 15  # 15 x 4 KB values: just under the 64 KB transaction limit


def heavy_transactions(chain: Chain, count: int) -> list[Transaction]:
    """What the attacker sent: ``count`` transactions of ~61 KB, each setting 4 KB details on itself."""
    txs = []
    for i in range(count):
        # The same 15 keys each time: 15 x 4 KB stays within a writer's detail quota on an account.
        commands = [SetAccountDetail("alice@aclb", f"k{j}", chr(97 + (i + j) % 26) * 4096)
                    for j in range(DETAILS_PER_TX)]
        tx = chain.tx("alice@aclb", *commands)
        assert MAX_TX_BYTES - 4096 < len(tx.encode()) <= MAX_TX_BYTES
        txs.append(tx)
    return txs


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    c = Chain(tmp_path / "db")
    yield c
    c.close()


def test_a_proposer_never_builds_a_block_over_the_byte_limit_and_the_rest_waits(chain: Chain) -> None:
    txs = heavy_transactions(chain, 420)  # ~26 MB of candidates
    block, execution = chain.ledger.build_block(txs, chain.now + 1000, chain.proposer)
    size = len(block.encode())
    assert size <= limits.MAX_BLOCK_BYTES
    assert size > limits.MAX_BLOCK_BYTES - 2 * MAX_TX_BYTES  # full, not timid
    included = len(block.transactions)
    assert 0 < included < 420 and [t.hash for t in block.transactions] == [t.hash for t in txs[:included]]
    chain.ledger.commit(block, execution, b"")
    # The next block takes the rest, in order.
    rest, execution = chain.ledger.build_block(txs, chain.now + 2000, chain.proposer)
    assert [t.hash for t in rest.transactions] == [t.hash for t in txs[included:]]
    assert len(rest.encode()) <= limits.MAX_BLOCK_BYTES


def test_the_byte_budget_counts_every_transaction_as_if_rejected(chain: Chain) -> None:
    # Rejected hashes go into the header (34 B each); a budget that forgot them overflows.
    bogus = [chain.tx("alice@aclb", SetAccountDetail("bob@aclb", f"x{i}", "v" * 200)) for i in range(1000)]
    heavy = heavy_transactions(chain, 10)
    candidates = bogus + heavy  # alice may not set bob's details: rejected
    tx_bytes = sum(len(t.encode()) + 5 for t in candidates)
    for budget in range(tx_bytes - sum(len(t.encode()) for t in heavy) + 40_000, tx_bytes, 23_000):
        block, _ = chain.ledger.build_block(candidates, chain.now + 1000, chain.proposer, max_bytes=budget)
        assert len(block.header.rejected) == 1000
        assert len(block.encode()) <= budget, budget


def test_a_maximal_block_fits_a_proposal_frame_and_a_sync_answer_with_a_maximal_certificate() -> None:
    key = KeyPair.from_seed(bytes(32))
    value = b"\x00" * limits.MAX_BLOCK_BYTES
    proposal = sign_proposal(key, "c", 7, 3, value, 2)
    wire = encode_peer_message(ConsensusWire(encode_message(proposal)))
    assert len(wire) + AEAD_TAG_BYTES <= MAX_FRAME
    assert len(encode_message(proposal)) <= limits.MAX_PROPOSAL_BYTES
    assert decode_message(encode_message(proposal), limits.MAX_PROPOSAL_BYTES) == proposal
    signers = [KeyPair.from_seed(i.to_bytes(32, "big")) for i in range(1, MAX_SIGNATURES + 1)]
    certificate = CommitCertificate.from_precommits(
        sign_precommit(k, "c", 2**40, 2**20, b"\xff" * 32) for k in signers)
    assert len(certificate.encode()) <= limits.MAX_CERTIFICATE_BYTES
    answer = encode_peer_message(SyncBlocks(((value, certificate.encode()),)))
    assert len(answer) + AEAD_TAG_BYTES <= MAX_FRAME
    assert isinstance(decode_peer_message(answer, MAX_FRAME), SyncBlocks)


def test_a_block_over_the_limit_is_refused_with_a_typed_error_wherever_it_arrives() -> None:
    with pytest.raises(InvalidBlock) as refused:
        decode_block(b"\x00" * (limits.MAX_BLOCK_BYTES + 1))
    assert refused.value.code.startswith("bad_block_")


def test_candidates_are_taken_while_the_documented_accounting_fits_exactly(chain: Chain) -> None:
    # Fixed header allowance + per transaction its bytes and 5 + 34 (as if rejected): exactly full is allowed.
    from node.ledger.chain import BLOCK_FIXED_BYTES, TX_OVERHEAD_BYTES
    txs = [chain.tx("alice@aclb", SetAccountDetail("alice@aclb", f"k{i}", "v" * 100)) for i in range(3)]
    exact = BLOCK_FIXED_BYTES + sum(len(t.encode()) + TX_OVERHEAD_BYTES for t in txs)
    full, _ = chain.ledger.build_block(txs, chain.now + 1000, chain.proposer, max_bytes=exact)
    short, _ = chain.ledger.build_block(txs, chain.now + 1000, chain.proposer, max_bytes=exact - 1)
    assert (len(full.transactions), len(short.transactions)) == (3, 2)


def test_a_built_blocks_execution_is_for_the_next_height(chain: Chain) -> None:
    block, execution = chain.ledger.build_block([], chain.now + 1000, chain.proposer)
    assert execution.height == block.height == chain.ledger.head.height + 1
