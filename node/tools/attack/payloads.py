"""Scenarios that attack with what they post to the API, from the attacker's address 127.0.0.2."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from consensus.crypto import KeyPair
from node.intake import statuses as st
from node.ledger import commands as c
from node.ledger.transactions import MAX_SIGNATURES, Transaction, TxPayload, build_transaction
from node.tools.attack.harness import AttackContext
from node.tools.attack.hostile import post
from node.tools.testnet import CHAIN_ID

ALICE, BOB = "alice@aclb", "bob@abaa"
DETAIL_VALUE = "x" * 4096
JUNK_DETAILS = 14  # 14 x 4 KiB details: a ~58 KiB transaction, just under the 64 KiB cap
MAX_BODY = 8 * 1024 * 1024


def _now_ms() -> int:
    return int(time.time() * 1000)


def _accepted(answer: Any) -> int:
    """How many items of a batch answer a node accepted."""
    if not isinstance(answer, dict):
        return 0
    return sum(1 for res in answer.get("results", ())
               if res.get("status") in (st.STATELESS_VALIDATION_SUCCESS, st.COMMITTED))


def _batches(items: list[bytes], budget: int) -> list[list[bytes]]:
    """``items`` cut into request bodies of at most ``budget`` bytes."""
    out: list[list[bytes]] = [[]]
    size = 0
    for item in items:
        if out[-1] and size + len(item) + 16 > budget:
            out.append([])
            size = 0
        out[-1].append(item)
        size += len(item) + 16
    return [b for b in out if b]


def _parallel_posts(targets: list[tuple[str, list[bytes]]]) -> list[tuple[int, Any]]:
    """One msgpack POST per (api_url, items), all at once; their answers in the same order."""
    answers: list[tuple[int, Any]] = [(0, None)] * len(targets)

    def one(i: int, url: str, items: list[bytes]) -> None:
        answers[i] = post(url, "/v1/transactions", items, msgpack_body=True, timeout=120.0)

    threads = [threading.Thread(target=one, args=(i, url, items), daemon=True)
               for i, (url, items) in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def _answer_word(code: int, answer: Any) -> str:
    """A one-word summary of an answer: the status, or the error code, or the HTTP status."""
    if isinstance(answer, dict):
        err = answer.get("error")
        word = answer.get("status") or (err.get("code") if isinstance(err, dict) else None)
        if answer.get("error_code"):
            word = f"{word}/{answer['error_code']}"
        if word:
            return str(word)
    return f"http_{code}"


def junk_creators(ctx: AttackContext) -> None:
    """Finding 1/6: ~47 MB of ~58 KiB transactions from creators that do not exist, signed by keys that
    are nobody's, in 6 simultaneous requests (two per attacked validator). Intake must refuse them
    (the creator does not exist); the chain must stay live and no node may die."""
    total_mb = 47 * ctx.opts.scale
    per_tx = len(_junk_tx(0, KeyPair.generate()).encode())
    count = max(6, int(total_mb * 1024 * 1024 / per_tx))
    key = KeyPair.generate()
    junk = [_junk_tx(i, key).encode() for i in range(count)]
    targets = [n for n in ctx.net.honest_validators() if n != "nbc"] or ctx.net.honest_validators()
    bodies = _batches(junk, len(junk) * per_tx // 6 + per_tx)
    plan = [(ctx.net.node(targets[i % len(targets)]).api_url, body) for i, body in enumerate(bodies)]
    answers = _parallel_posts(plan)
    accepted = sum(_accepted(a) for _, a in answers)
    statuses = sorted({code for code, _ in answers})
    ctx.figures.update({"junk_sent": count, "junk_mb": round(count * per_tx / 1024 / 1024, 1),
                        "requests": len(plan), "http_statuses": statuses, "junk_accepted": accepted})
    ctx.check("junk_refused", accepted == 0,
              f"{accepted} of {count} transactions from made-up creators accepted (must be 0)")
    ctx.wait_until_deadline()


def _junk_tx(i: int, key: KeyPair) -> Transaction:
    creator = f"ghost{i}x{os.getpid()}@aclb"
    cmds = tuple(c.SetAccountDetail(creator, f"k{j}", DETAIL_VALUE) for j in range(JUNK_DETAILS))
    return build_transaction(TxPayload(CHAIN_ID, creator, _now_ms() - i, 1, cmds), key)


def signature_flood(ctx: AttackContext) -> None:
    """Finding 3: requests each holding hundreds of copies of one transaction with 127 valid signatures
    (by keys that are nobody's) and one bad one, one request at a time to each of two validators for
    the whole window. Verification must not stall the node: the chain stays live, ``/healthz`` answers
    within 2 s, honest latency stays bounded."""
    payload = TxPayload(CHAIN_ID, ALICE, _now_ms(), 1, (c.TransferAsset(ALICE, BOB, "khr#nbc", "", "1.00"),))
    tx = build_transaction(payload, *[KeyPair.generate() for _ in range(MAX_SIGNATURES - 1)])
    bad_key = KeyPair.generate().public_key
    tx = Transaction(tx.payload, tx.payload_bytes, (*tx.signatures, (bad_key, bytes(64))), tx.hash)
    raw = tx.encode()
    copies = min(ctx.scaled(644), (MAX_BODY - 4096) // (len(raw) + 8))
    targets = ["aclb", "abaa"]
    sent: dict[str, int] = dict.fromkeys(targets, 0)
    codes: dict[str, list[int]] = {t: [] for t in targets}

    def hammer(name: str) -> None:
        url = ctx.net.node(name).api_url
        while time.monotonic() < ctx.deadline:
            code, _ = post(url, "/v1/transactions", [raw] * copies, msgpack_body=True, timeout=120.0)
            sent[name] += 1
            codes[name].append(code)

    threads = [threading.Thread(target=hammer, args=(n,), daemon=True) for n in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctx.figures.update({"copies_per_request": copies, "signatures_per_tx": MAX_SIGNATURES,
                        "tx_bytes": len(raw), "requests": sent,
                        "http_statuses": {n: sorted(set(v)) for n, v in codes.items()}})
    ctx.figures["healthz_bound_ms"] = 2000
    ctx.figures["attacked"] = targets


def account_limit_junk(ctx: AttackContext) -> None:
    """Finding 6: junk transactions claiming alice as creator (signed by keys that are not hers) sent
    to every node throughout the window, to fill her per-account share of the mempool. Her own 22 real
    payments, spread over the window, must all be accepted and committed."""
    limit = int(ctx.net.spec.mempool.get("max_per_account", 2000))
    key = KeyPair.generate()
    junk = [build_transaction(TxPayload(CHAIN_ID, ALICE, _now_ms() - i, 1,
                                        (c.TransferAsset(ALICE, BOB, "khr#nbc", "junk", "1.00"),)), key).encode()
            for i in range(limit * 3)]
    stop = threading.Event()
    junk_accepted = [0]

    def flood() -> None:
        urls = [n.api_url for n in ctx.net.honest_live_nodes()]
        i = 0
        while not stop.is_set():
            chunk = junk[(i * limit) % len(junk):][:limit]
            for url in urls:
                _, answer = post(url, "/v1/transactions", chunk, msgpack_body=True, timeout=30.0)
                junk_accepted[0] += _accepted(answer)
            i += 1

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    time.sleep(min(2.0, ctx.opts.duration / 4))  # her share is full before she pays
    alice = ctx.key(ALICE)
    client = ctx.client("aclb")
    payments = 22 if ctx.opts.scale >= 1 else max(5, int(22 * ctx.opts.scale))
    spacing = max(0.05, (ctx.deadline - time.monotonic() - 1) / payments)
    answers: list[str] = []
    hashes: list[str] = []
    for i in range(payments):
        tx = build_transaction(TxPayload(CHAIN_ID, ALICE, _now_ms(), 1,
                                         (c.TransferAsset(ALICE, BOB, "khr#nbc", f"real {i}", "1.00"),)), alice)
        code, answer = client._request("POST", "/v1/transactions", {"transaction": tx.encode().hex()})
        status = answer.get("status") if isinstance(answer, dict) else None
        err = answer.get("error", {}).get("code") if isinstance(answer, dict) and "error" in answer else None
        answers.append(str(status or err or code))
        hashes.append(tx.hash.hex())
        time.sleep(spacing)
    ctx.wait_until_deadline()
    stop.set()
    flooder.join(timeout=60)
    accepted = sum(1 for a in answers if a == st.STATELESS_VALIDATION_SUCCESS)
    final = [client.wait_final(h, timeout=30.0).get("status") for h in hashes]
    committed = sum(1 for s in final if s == st.COMMITTED)
    ctx.figures.update({"max_per_account": limit, "junk_accepted": junk_accepted[0], "alice_payments": payments,
                        "alice_accepted": accepted, "alice_committed": committed,
                        "alice_answers": {a: answers.count(a) for a in set(answers)}})
    ctx.check("victim_payments_accepted", accepted == payments,
              f"alice: {accepted} of {payments} real payments accepted while junk claimed her account")
    ctx.check("victim_payments_committed", committed == payments, f"alice: {committed} of {payments} committed")


def resign_payment(ctx: AttackContext) -> None:
    """Finding 7: an eavesdropper re-signs alice's payload with its own key and submits it to another
    node first; alice then submits hers. Her payment (same hash) must commit, not end REJECTED."""
    alice = ctx.key(ALICE)
    thief = KeyPair.generate()
    rounds = ctx.scaled(10, 3)
    spacing = max(0.2, (ctx.deadline - time.monotonic()) / rounds)
    victim_answers: list[str] = []
    forged_answers: list[str] = []
    hashes: list[str] = []
    for i in range(rounds):
        pay = c.TransferAsset(ALICE, BOB, "khr#nbc", f"rent {i}", "5.00")
        payload = TxPayload(CHAIN_ID, ALICE, _now_ms(), 1, (pay,))
        real = build_transaction(payload, alice)
        forged = build_transaction(payload, thief)
        fcode, fanswer = post(ctx.net.node("abaa").api_url, "/v1/transactions", forged.encode(), msgpack_body=True,
                              timeout=10.0)
        forged_answers.append(_answer_word(fcode, fanswer))
        time.sleep(0.2)  # the forgery is gossiped ahead of her
        code, answer = ctx.client("aclb")._request("POST", "/v1/transactions", {"transaction": real.encode().hex()})
        status = answer.get("status") if isinstance(answer, dict) else None
        err = answer.get("error", {}).get("code") if isinstance(answer, dict) and "error" in answer else None
        victim_answers.append(str(status or err or code))
        hashes.append(real.hash.hex())
        time.sleep(spacing)
    ctx.wait_until_deadline()
    client = ctx.client("aclb")
    final = [client.wait_final(h, timeout=30.0) for h in hashes]
    committed = sum(1 for f in final if f.get("status") == st.COMMITTED)
    outcomes = [f"{f.get('status')}/{f.get('error_code')}" if f.get("error_code") else str(f.get("status"))
                for f in final]
    ctx.figures.update({"victim_payments": rounds, "victim_committed": committed,
                        "forgery_answers": {a: forged_answers.count(a) for a in set(forged_answers)},
                        "victim_answers": {a: victim_answers.count(a) for a in set(victim_answers)},
                        "victim_final": {o: outcomes.count(o) for o in set(outcomes)}})
    ctx.check("victim_payment_committed", committed == rounds,
              f"{committed} of {rounds} payments re-signed by a stranger still committed")
