"""The ``bakong`` CLI against real node processes (issue 16, points 8 and 9): a payment commits (exit 0),
resending it answers HTTP 200 COMMITTED and ``tx send`` exits 0, ``query txs`` walks two pages by
``--cursor``, and a payment to a validator that has no quorum ends "still pending" with exit 5. The CLI
runs in-process (``node.cli.main``); the nodes are their own processes."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from node.cli import EXIT_OK, EXIT_PENDING, main
from node.ledger.transactions import decode_transaction
from node.tools.testnet import init_testnet
from tests.integration.conftest import FAST_BLOCK, RunningNet, free_port_range

pytestmark = pytest.mark.integration


def pay(net: RunningNet, url: str, note: str, *extra: str) -> int:
    return main(["tx", "transfer", "--from", "alice@aclb", "--to", "bob@abaa", "--asset", "khr#nbc", "--amount",
                 "1.00", "--description", note, "--key", net.key_path("alice@aclb"), "--node", url, *extra])


def test_a_payment_commits_a_resend_answers_committed_pages_walk_and_a_halt_times_out(
        single_node: RunningNet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = single_node
    url = net.client().url
    saved = tmp_path / "payment.hex"

    assert pay(net, url, "first", "--save", str(saved), "--timeout", "10") == EXIT_OK
    committed = json.loads(capsys.readouterr().out)
    assert committed["status"] == "COMMITTED"
    first = decode_transaction(bytes.fromhex(saved.read_text().strip())).hash.hex()
    assert committed["hash"] == first

    # A retrying client resends the same signed bytes: told it is paid (200), never "failed" (was 409).
    request = urllib.request.Request(url + "/v1/transactions", method="POST",
                                     data=json.dumps({"transaction": saved.read_text().strip()}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        assert json.loads(answer.read()) == committed
    assert main(["tx", "send", str(saved), "--node", url]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == committed

    # Two more payments, then alice's history two at a time: the first page's "next" is the second's cursor.
    ours = {first}
    for note in ("second", "third"):
        assert pay(net, url, note, "--timeout", "10") == EXIT_OK
        ours.add(json.loads(capsys.readouterr().out)["hash"])
    assert len(ours) == 3
    query = ["query", "txs", "alice@aclb", "--limit", "2", "--key", net.key_path("alice@aclb"), "--node", url]
    assert main(query) == EXIT_OK
    page1 = json.loads(capsys.readouterr().out)
    assert len(page1["transactions"]) == 2 and page1["next"]
    assert main([*query, "--cursor", page1["next"]]) == EXIT_OK
    page2 = json.loads(capsys.readouterr().out)
    hashes1 = [t["hash"] for t in page1["transactions"]]
    hashes2 = [t["hash"] for t in page2["transactions"]]
    assert hashes2[0] == page1["next"] and not set(hashes1) & set(hashes2)
    assert ours <= set(hashes1) | set(hashes2)

    # One validator of a four-validator genesis: it accepts the payment but can never commit it.
    halted_nodes = init_testnet(tmp_path / "halted", validators=4, observers=0, base_port=free_port_range(4),
                                p2p_base_port=free_port_range(4), block=FAST_BLOCK)
    halted = RunningNet(tmp_path / "halted", halted_nodes)
    halted.start(halted_nodes[0])
    try:
        halted_url = halted.client().url
        stuck = tmp_path / "stuck.hex"
        status = main(["tx", "transfer", "--from", "alice@aclb", "--to", "bob@abaa", "--asset", "khr#nbc",
                       "--amount", "1.00", "--key", halted.key_path("alice@aclb"), "--node", halted_url,
                       "--save", str(stuck), "--timeout", "1"])
        stuck_hash = decode_transaction(bytes.fromhex(stuck.read_text().strip())).hash.hex()
        out = capsys.readouterr()
        assert status == EXIT_PENDING and out.out == ""
        assert out.err.startswith(f"error: timeout: still pending: {stuck_hash} ") and out.err.count("\n") == 1
        assert halted.client().tx_status(stuck_hash)["status"] == "STATELESS_VALIDATION_SUCCESS"
    finally:
        halted.stop_all()
