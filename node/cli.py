"""The ``bakong`` command line.

Every failure prints one line ``error: <code>: <message>`` to stderr and exits non-zero; a traceback
is never shown to the user. Amounts are decimal strings; keys are key files (``bakong keygen``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from consensus.crypto import KeyPair
from node import config_command, key_cli, packing
from node.api.client import NodeClient
from node.config import BYZANTINE_MODES
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction, TxPayload, build_transaction

DEFAULT_NODE = os.environ.get("BAKONG_NODE", "http://127.0.0.1:8100")


class CliError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


# ---- keys and nodes ----

def cmd_keygen(args: argparse.Namespace) -> int:
    """``key new``: refuses without --out (a key printed to nowhere is a key thrown away)."""
    return key_cli.cmd_key_new(args)


def cmd_node(args: argparse.Namespace) -> int:
    from node.assembly import run_node
    from node.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.config)
    run_node(config)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _print(NodeClient(args.node).status())
    return 0


# ---- transactions ----

def _keys(args: argparse.Namespace) -> list[KeyPair]:
    paths = args.key or ([os.environ["BAKONG_KEY"]] if os.environ.get("BAKONG_KEY") else [])
    if not paths:
        raise CliError("no_key", "give --key FILE (or set BAKONG_KEY) to sign with")
    return [read_key(p) for p in paths]


def _send(args: argparse.Namespace, creator: str, commands: list[c.Command]) -> int:
    client = NodeClient(args.node)
    keys = _keys(args)
    payload = TxPayload(client.chain_id, creator, int(time.time() * 1000), len(keys), tuple(commands))
    tx = build_transaction(payload, *keys)
    if args.save:
        Path(args.save).write_text(tx.encode().hex() + "\n")
    if args.no_submit:
        if not args.save:
            raise CliError("bad_arguments", "--no-submit needs --save FILE")
        _print({"hash": tx.hash.hex(), "saved": args.save})
        return 0
    return _submit_and_report(client, tx, args.no_wait)


def _submit_and_report(client: NodeClient, tx: Transaction, no_wait: bool) -> int:
    result = client.submit(tx)
    if result.get("status") == "STATELESS_VALIDATION_SUCCESS" and not no_wait:
        result = client.wait_final(tx.hash.hex())
    _print(result)
    return 0 if result.get("status") in (TxStatus.COMMITTED, TxStatus.STATELESS_VALIDATION_SUCCESS) else 2


def cmd_transfer(args: argparse.Namespace) -> int:
    src = args.src or args.creator
    if not src:
        raise CliError("bad_arguments", "give --from ACCOUNT")
    return _send(args, args.creator or src,
                 [c.TransferAsset(c.check_account(src), c.check_account(args.to), c.check_asset(args.asset),
                                  c.check_description(args.description), c.check_amount(args.amount))])


def cmd_create_account(args: argparse.Namespace) -> int:
    name, _, domain = args.account.partition("@")
    public_key = bytes.fromhex(args.public_key) if args.public_key else None
    if public_key is None:
        raise CliError("bad_arguments", "give --public-key HEX (see bakong keygen)")
    command = c.CreateAccount(c.check_name(name), c.check_domain(domain), c.check_public_key(public_key))
    return _send(args, args.creator, [command])


def cmd_mint(args: argparse.Namespace) -> int:
    return _send(args, args.creator, [c.AddAssetQuantity(c.check_asset(args.asset), c.check_amount(args.amount))])


def cmd_burn(args: argparse.Namespace) -> int:
    return _send(args, args.creator, [c.SubtractAssetQuantity(c.check_asset(args.asset), c.check_amount(args.amount))])


def cmd_freeze(args: argparse.Namespace) -> int:
    """The central bank freezes (or unfreezes) an account, with the reason on record."""
    kind = c.FreezeAccount if args.tx == "freeze" else c.UnfreezeAccount
    return _send(args, args.creator, [kind(c.check_account(args.account), c.check_description(args.reason))])


def cmd_submit(args: argparse.Namespace) -> int:
    """A transaction from JSON: {"creator": "...", "commands": [{"type": "TransferAsset", ...}, ...]}."""
    try:
        doc = json.loads(Path(args.file).read_text())
    except (OSError, ValueError) as exc:
        raise CliError("bad_file", f"cannot read {args.file}: {exc}") from None
    if (not isinstance(doc, dict) or not isinstance(doc.get("creator"), str)
            or not isinstance(doc.get("commands"), list)):
        raise CliError("bad_file", 'the file needs "creator" and a list of "commands"')
    return _send(args, doc["creator"], [c.command_from_json(x) for x in doc["commands"]])


def cmd_send(args: argparse.Namespace) -> int:
    """Submit an already signed transaction (hex of its canonical bytes), e.g. one signed offline."""
    from node.ledger.errors import StatelessError
    from node.ledger.transactions import decode_transaction

    try:
        raw = bytes.fromhex(Path(args.file).read_text().strip())
    except (OSError, ValueError) as exc:
        raise CliError("bad_file",
                       f"{args.file} does not hold a hex-encoded transaction ({exc.__class__.__name__})") from None
    try:
        tx = decode_transaction(raw)
    except StatelessError:
        # Let the node judge it and answer with its code, as it would for any client.
        _status, payload = NodeClient(args.node)._request("POST", "/v1/transactions", {"transaction": raw.hex()})
        _print(payload)
        return 2
    return _submit_and_report(NodeClient(args.node), tx, args.no_wait)


def cmd_tx_status(args: argparse.Namespace) -> int:
    _print(NodeClient(args.node).tx_status(args.hash))
    return 0


# ---- queries ----

def _query(args: argparse.Namespace, query: Any) -> int:
    creator = args.creator or args.account
    _print(NodeClient(args.node).query(creator, _keys(args)[0], query))
    return 0


def cmd_query_balance(args: argparse.Namespace) -> int:
    from node.ledger.queries import GetAccountAssets
    return _query(args, GetAccountAssets(c.check_account(args.account), 1000, None))


def cmd_query_account(args: argparse.Namespace) -> int:
    from node.ledger.queries import GetAccount
    return _query(args, GetAccount(c.check_account(args.account)))


def cmd_query_txs(args: argparse.Namespace) -> int:
    from node.ledger.queries import GetAccountTransactions
    return _query(args, GetAccountTransactions(c.check_account(args.account), args.limit, None))


# ---- testnet and bench ----

def cmd_testnet_init(args: argparse.Namespace) -> int:
    from node.tools.testnet import init_testnet

    nodes = init_testnet(args.dir, validators=args.validators, observers=args.observers, base_port=args.api_port,
                         p2p_base_port=args.p2p_port)
    for n in nodes:
        print(f"{n.name:8} {n.role:9} {n.api_url}  config {n.config}")
    return 0


def cmd_testnet_run(args: argparse.Namespace) -> int:
    from node.tools.demo import run_demo

    return run_demo(Path(args.dir), keep=args.keep, transfers=args.transfers, api_port=args.api_port,
                    p2p_port=args.p2p_port, validators=args.validators, observers=args.observers)


def cmd_testnet_up(args: argparse.Namespace) -> int:
    from node.tools.testnet_control import stop, up

    directory = Path(args.dir)
    print(f"Starting a testnet in {directory} ({args.validators} validators + {args.observers} observers)")
    _nodes, procs = up(directory, validators=args.validators, observers=args.observers, api_port=args.api_port,
                       p2p_port=args.p2p_port)
    print(f"All nodes healthy; {directory / 'testnet.json'} lists them.")
    if args.detach:
        return 0
    print("Press Ctrl-C to stop the network.")
    try:
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        dead = [name for name, p in procs.items() if p.poll() is not None]
        print(f"node(s) exited: {', '.join(dead)}; stopping the network")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(procs.values())
        from node.tools.testnet import load_nodes, write_manifest
        write_manifest(directory, load_nodes(directory), {})


def cmd_testnet_down(args: argparse.Namespace) -> int:
    from node.tools.testnet_control import down

    print(f"stopped {down(Path(args.dir))} node(s)")
    return 0


def cmd_bench_apply(args: argparse.Namespace) -> int:
    from node.tools.bench.apply import run_apply_bench

    return run_apply_bench(transfers=args.transfers, accounts=args.accounts, block_size=args.block_size,
                           repeats=args.repeats, json_path=args.json)


def cmd_bench_load(args: argparse.Namespace) -> int:
    from node.tools.bench.load import LoadOptions, run_load_bench

    return run_load_bench(LoadOptions(
        duration=args.duration, rate=args.rate, accounts=args.accounts, validators=args.validators,
        observers=args.observers, invalid_share=args.invalid_share, json_path=args.json, directory=args.dir,
        keep=args.keep, api_port=args.api_port, p2p_port=args.p2p_port, batch=args.batch, drain=args.drain,
        concurrency=args.concurrency, pool=args.pool, seed=args.seed, max_pending=args.max_pending))


def cmd_bench_idle(args: argparse.Namespace) -> int:
    from node.tools.bench.idle import IdleOptions, run_idle_bench

    return run_idle_bench(IdleOptions(
        duration=args.duration, validators=args.validators, observers=args.observers, settle=args.settle,
        json_path=args.json, api_port=args.api_port, p2p_port=args.p2p_port, directory=args.dir, keep=args.keep))


def cmd_chaos(args: argparse.Namespace) -> int:
    from node.tools.chaos.campaign import ChaosOptions, run_chaos

    return run_chaos(ChaosOptions(duration=args.duration, seed=args.seed, rate=args.rate, json_path=args.json,
                                  directory=args.dir, keep=args.keep, byzantine=args.byzantine))


def cmd_geo(args: argparse.Namespace) -> int:
    from node.tools.geo.campaign import GeoOptions, run_cleanup, run_geo

    if args.cleanup:
        return run_cleanup()
    return run_geo(GeoOptions(
        rtts_ms=tuple(float(x) for x in args.rtt_ms.split(",") if x), jitter_ms=args.jitter_ms, loss=args.loss,
        duration=args.duration, partition_s=args.partition, isolate=tuple(c for c in args.isolate.split(",") if c),
        rate=args.rate, accounts=args.accounts, seed=args.seed, json_path=args.json, directory=args.dir,
        keep=args.keep))


def cmd_attack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from node.tools.attack.harness import RunOptions
    from node.tools.attack.suite import run_attack

    return run_attack(args.scenario, RunOptions(
        duration=args.duration, baseline_s=args.baseline, rate=args.rate, scale=args.scale,
        directory=Path(args.dir) if args.dir else None, keep=args.keep), args.json)


def _bench_load_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--duration", type=float, default=60.0, help="seconds of submission (default 60)")
    sp.add_argument("--rate", type=float, default=0.0, help="offered TPS; 0 = as fast as accepted (default)")
    sp.add_argument("--accounts", type=int, default=1000, help="funded customer accounts in genesis")
    sp.add_argument("--validators", type=int, default=4)
    sp.add_argument("--observers", type=int, default=1)
    sp.add_argument("--invalid-share", type=float, default=0.02,
                    help="share of invalid transfers: half overdrafts, half bad signatures (default 0.02)")
    sp.add_argument("--json", help="write results here")
    sp.add_argument("--dir", help="testnet directory (default: a fresh temp dir, removed afterwards)")
    sp.add_argument("--keep", action="store_true", help="keep the testnet directory")
    sp.add_argument("--api-port", type=int, default=18600, help="first node's API port")
    sp.add_argument("--p2p-port", type=int, default=17600, help="first node's p2p port")
    sp.add_argument("--batch", type=int, default=0, help="transactions per POST (default: by rate, 10..200)")
    sp.add_argument("--drain", type=float, default=10.0, help="seconds to wait for in-flight txs at the end")
    sp.add_argument("--concurrency", type=int, default=2, help="with --rate 0: posts outstanding per node")
    sp.add_argument("--pool", type=int, default=0,
                    help="transfers to pre-sign (default duration x rate, or x 4,000 with --rate 0)")
    sp.add_argument("--seed", type=int, default=1, help="workload random seed")
    sp.add_argument("--max-pending", type=int, default=20_000,
                    help="with --rate 0: at most this many accepted txs waiting for a block (0 = no bound)")
    sp.set_defaults(func=cmd_bench_load)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bakong", description="Bakong-like permissioned BFT ledger node")
    sub = p.add_subparsers(dest="command", required=True)

    def node_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--node", default=DEFAULT_NODE, help="node API URL (env BAKONG_NODE)")

    def signer(sp: argparse.ArgumentParser, creator_required: bool = True) -> None:
        node_opt(sp)
        sp.add_argument("--creator", required=creator_required, help="account that signs (name@bank)")
        sp.add_argument("--key", action="append", help="key file of a signatory (repeat for multisig; env BAKONG_KEY)")
        sp.add_argument("--no-wait", action="store_true", help="do not wait for COMMITTED/REJECTED")
        sp.add_argument("--save", metavar="FILE", help="also write the signed transaction (hex) to FILE")
        sp.add_argument("--no-submit", action="store_true", help="only sign and --save; submit later with tx send")

    k = sub.add_parser("keygen", help="make an Ed25519 key; prints the public key")
    k.add_argument("--out", help="write the key file here")
    k.add_argument("--force", action="store_true")
    k.set_defaults(func=cmd_keygen)
    key_cli.register(sub)
    config_command.register(sub)

    n = sub.add_parser("node", help="run a node")
    n.add_argument("--config", required=True)
    n.set_defaults(func=cmd_node)

    s = sub.add_parser("status", help="a node's status")
    node_opt(s)
    s.set_defaults(func=cmd_status)

    tx = sub.add_parser("tx", help="build, sign and submit transactions").add_subparsers(dest="tx", required=True)
    t = tx.add_parser("transfer")
    signer(t, creator_required=False)
    t.add_argument("--from", dest="src", required=True)
    t.add_argument("--to", required=True)
    t.add_argument("--asset", required=True)
    t.add_argument("--amount", required=True, help='decimal string, e.g. "1500.50"')
    t.add_argument("--description", default="")
    t.set_defaults(func=cmd_transfer)
    a = tx.add_parser("create-account")
    signer(a)
    a.add_argument("--account", required=True, help="name@bank")
    a.add_argument("--public-key", required=True)
    a.set_defaults(func=cmd_create_account)
    for name, func in (("mint", cmd_mint), ("burn", cmd_burn)):
        m = tx.add_parser(name)
        signer(m)
        m.add_argument("--asset", required=True)
        m.add_argument("--amount", required=True)
        m.set_defaults(func=func)
    for name in ("freeze", "unfreeze"):
        fz = tx.add_parser(name, help=f"{name} an account (needs can_freeze_account)")
        signer(fz)
        fz.add_argument("--account", required=True, help="name@bank")
        fz.add_argument("--reason", required=True, help="a case or order reference (at most 256 characters)")
        fz.set_defaults(func=cmd_freeze)
    su = tx.add_parser("submit", help="a transaction described in a JSON file")
    signer(su, creator_required=False)
    su.add_argument("file")
    su.set_defaults(func=cmd_submit)
    se = tx.add_parser("send", help="submit a signed transaction saved with --save (hex)")
    node_opt(se)
    se.add_argument("file")
    se.add_argument("--no-wait", action="store_true")
    se.set_defaults(func=cmd_send)
    st = tx.add_parser("status")
    node_opt(st)
    st.add_argument("hash")
    st.set_defaults(func=cmd_tx_status)

    q = sub.add_parser("query", help="signed queries").add_subparsers(dest="query", required=True)
    for name, func in (("balance", cmd_query_balance), ("account", cmd_query_account), ("txs", cmd_query_txs)):
        qp = q.add_parser(name)
        node_opt(qp)
        qp.add_argument("account")
        qp.add_argument("--creator", help="querying account (default: the account itself)")
        qp.add_argument("--key", action="append")
        if name == "txs":
            qp.add_argument("--limit", type=int, default=20)
        qp.set_defaults(func=func)

    tn = sub.add_parser("testnet", help="local networks").add_subparsers(dest="testnet", required=True)
    ti = tn.add_parser("init", help="write keys, genesis and node configs")
    ti.add_argument("--dir", required=True)
    ti.add_argument("--validators", type=int, default=4)
    ti.add_argument("--observers", type=int, default=1)
    ti.add_argument("--api-port", type=int, default=8100)
    ti.add_argument("--p2p-port", type=int, default=7100)
    ti.set_defaults(func=cmd_testnet_init)
    tu = tn.add_parser("up", help="start a local network (one OS process per node)")
    tu.add_argument("--dir", required=True)
    tu.add_argument("--validators", type=int, default=4)
    tu.add_argument("--observers", type=int, default=1)
    tu.add_argument("--api-port", type=int, default=8100)
    tu.add_argument("--p2p-port", type=int, default=7100)
    tu.add_argument("--detach", action="store_true", help="return once healthy; stop with testnet down")
    tu.set_defaults(func=cmd_testnet_up)
    td = tn.add_parser("down", help="stop a network started with up --detach")
    td.add_argument("--dir", required=True)
    td.set_defaults(func=cmd_testnet_down)
    tr = tn.add_parser("run", help="start the network and run the demo workload")
    tr.add_argument("--dir", required=True)
    tr.add_argument("--validators", type=int, default=4)
    tr.add_argument("--observers", type=int, default=1)
    tr.add_argument("--keep", action="store_true", help="leave the network running after the demo")
    tr.add_argument("--transfers", type=int, default=200)
    tr.add_argument("--api-port", type=int, default=8100)
    tr.add_argument("--p2p-port", type=int, default=7100)
    tr.set_defaults(func=cmd_testnet_run)

    bench = sub.add_parser("bench", help="benchmarks (default: load, e.g. bakong bench --duration 60)")
    _bench_load_options(bench)
    b = bench.add_subparsers(dest="bench")
    _bench_load_options(b.add_parser("load", help="a testnet under open-loop transfer load, submit to COMMITTED"))
    ba = b.add_parser("apply", help="execution + commit and signature verification on one core")
    ba.add_argument("--transfers", type=int, default=50_000)
    ba.add_argument("--accounts", type=int, default=1000)
    ba.add_argument("--block-size", type=int, default=2000)
    ba.add_argument("--repeats", type=int, default=3)
    ba.add_argument("--json", help="write results here")
    ba.set_defaults(func=cmd_bench_apply)
    bi = b.add_parser("idle", help="an empty testnet: CPU per node and blocks per interval, no traffic")
    bi.add_argument("--duration", type=float, default=30.0, help="seconds measured (default 30)")
    bi.add_argument("--settle", type=float, default=5.0, help="seconds after start-up before measuring (default 5)")
    bi.add_argument("--validators", type=int, default=4)
    bi.add_argument("--observers", type=int, default=1)
    bi.add_argument("--json", help="write results here")
    bi.add_argument("--dir", help="testnet directory (default: a fresh temp dir, removed afterwards)")
    bi.add_argument("--keep", action="store_true", help="keep the testnet directory")
    bi.add_argument("--api-port", type=int, default=18700, help="first node's API port")
    bi.add_argument("--p2p-port", type=int, default=17700, help="first node's p2p port")
    bi.set_defaults(func=cmd_bench_idle)
    geo = sub.add_parser("geo", help="4+1 testnet in four countries (network namespaces) behind a WAN relay: "
                                     "TPS and latency per RTT, then partitions and healing (root)")
    geo.add_argument("--rtt-ms", default="30,50,80", help="round-trip times between countries, one phase each")
    geo.add_argument("--jitter-ms", type=float, default=5.0, help="per-chunk delay variation, either side (ms)")
    geo.add_argument("--loss", type=float, default=0.0,
                     help="segment loss probability, as TCP retransmission stalls (default 0)")
    geo.add_argument("--duration", type=float, default=60.0, help="seconds of load per RTT setting (default 60)")
    geo.add_argument("--partition", type=float, default=20.0,
                     help="seconds each --isolate country is cut off (0: no partitions; default 20)")
    geo.add_argument("--isolate", default="th,kh",
                     help="countries cut off in turn (th: 1 validator, quorum kept; kh: 2, no quorum)")
    geo.add_argument("--rate", type=float, default=1000.0, help="offered TPS, open loop (default 1000)")
    geo.add_argument("--accounts", type=int, default=1000, help="funded bench accounts")
    geo.add_argument("--seed", type=int, default=1, help="workload seed")
    geo.add_argument("--json", help="write results here")
    geo.add_argument("--dir", help="testnet directory (default: a temp dir, removed)")
    geo.add_argument("--keep", action="store_true", help="keep the testnet directory")
    geo.add_argument("--cleanup", action="store_true", help="only remove namespaces a killed run left behind")
    geo.set_defaults(func=cmd_geo)
    ch = sub.add_parser("chaos", help="fault campaign: 4+1 testnet under load, kills, pauses, isolation, restarts")
    ch.add_argument("--duration", type=float, default=120.0, help="seconds of perturbations (default 120)")
    ch.add_argument("--seed", type=int, default=1, help="schedule and workload seed")
    ch.add_argument("--rate", type=float, default=200.0, help="offered TPS (default 200)")
    ch.add_argument("--json", help="write results here")
    ch.add_argument("--dir", help="testnet directory (must not hold one; default: a temp dir, removed)")
    ch.add_argument("--keep", action="store_true", help="keep the temp testnet directory")
    ch.add_argument("--byzantine", default="", choices=[m for m in BYZANTINE_MODES if m], metavar="MODE",
                    help="validator wing misbehaves in this [testing] byzantine mode all campaign long "
                         "(mixed: the whole repertoire; default: none)")
    ch.set_defaults(func=cmd_chaos)
    at = sub.add_parser("attack", help="attack suite: each scenario on a fresh 4+1 testnet with honest clients paying")
    at.add_argument("--scenario", default="all", help="a scenario name, several joined by commas, or all (default)")
    at.add_argument("--json", help="write results here")
    at.add_argument("--duration", type=float, default=20.0, help="seconds of attack per scenario (default 20)")
    at.add_argument("--baseline", type=float, default=8.0, help="seconds of honest load before the attack (default 8)")
    at.add_argument("--rate", type=float, default=20.0, help="honest payments per second (default 20)")
    at.add_argument("--scale", type=float, default=1.0, help="attack sizes relative to the campaign's (default 1)")
    at.add_argument("--dir", help="parent directory for the scenarios' testnets (default: temp dirs, removed)")
    at.add_argument("--keep", action="store_true", help="keep the testnet directories")
    at.set_defaults(func=cmd_attack)
    return p


def main(argv: list[str] | None = None) -> int:
    packing.install()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 (typed errors carry a code; anything else still gets one line, no traceback)
        if args.command == "node":  # one exit status per class of cause (docs/reliability.md)
            from node.assembly import node_failure
            exc = node_failure(exc)
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))


def one_line(exc: BaseException) -> str:
    code = getattr(exc, "code", None) or exc.__class__.__name__
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return f"{code}: {message}".replace("\n", " ")


if __name__ == "__main__":
    sys.exit(main())
