"""The ``bakong`` command line (docs/cli.md).

Every failure prints one line ``error: <code>: <message>`` to stderr and exits non-zero; a traceback
is never shown to the user. Amounts are decimal strings; keys are key files (``bakong key new``).
Every command and subcommand answers ``--version`` and ``--help``.

Exit status, one per class of outcome so a script can tell "paid", "refused", "try again" apart:

====  ======================================================================================
0     done: the transaction is COMMITTED (or accepted, with ``--no-wait``); the query answered
1     any other error: a bad argument value, an unreadable file or key, the node's own failure
2     usage: unknown command or option, a required option missing (argparse)
3     rejected: REJECTED in a block, refused at the door (STATELESS_VALIDATION_FAILED), or a
      query or request the node refused (4xx)
4     unreachable: no answer from the node (connection refused, timed out, bad address)
5     timed out: still pending after ``--timeout`` seconds; ask later with ``bakong tx status``
6     busy: the node kept nothing (mempool full, over a share: HTTP 429/503); retry shortly
130   interrupted (Ctrl-C)
====  ======================================================================================

``bakong node`` keeps its own statuses per cause of a stop (65, 69, 70, 74, 78: docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from consensus.crypto import KeyPair
from node import api_token_cli, config_command, key_cli, packing, pay_cli
from node.api.client import ClientError, NodeClient
from node.config import BYZANTINE_MODES
from node.keyfile import passphrase_from, read_key
from node.ledger import commands as c
from node.ledger import queries as q
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from node.ops import cli as ops_cli
from node.version import VERSION

DEFAULT_NODE = os.environ.get("BAKONG_NODE", "http://127.0.0.1:8100")
DEFAULT_TIMEOUT_S = 30.0

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_UNREACHABLE = 4
EXIT_PENDING = 5
EXIT_BUSY = 6
EXIT_INTERRUPTED = 130


class CliError(Exception):
    def __init__(self, code: str, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code, self.message, self.exit_code = code, message, exit_code


def exit_status(exc: BaseException) -> int:
    """The exit status of a command that raised ``exc`` (the table in the module docstring)."""
    if isinstance(exc, ClientError):
        if exc.code == "unreachable":
            return EXIT_UNREACHABLE
        if exc.status in (429, 503):
            return EXIT_BUSY
        return EXIT_REJECTED if 400 <= exc.status < 500 else EXIT_ERROR
    status = getattr(exc, "exit_code", EXIT_ERROR)
    return status if isinstance(status, int) and status > 0 else EXIT_ERROR


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


# ---- keys and nodes ----

def cmd_keygen(args: argparse.Namespace) -> int:
    """``key new``: refuses without --out (a key printed to nowhere is a key thrown away)."""
    return key_cli.cmd_key_new(args)


def cmd_node(args: argparse.Namespace) -> int:
    from node import logs
    from node.assembly import run_node
    from node.config import load_config

    logs.configure()  # UTC text at INFO until the config is read: its own errors get logged too
    config = load_config(args.config)
    logs.configure(args.log_level or config.log.level, args.log_format or config.log.format,
                   access_log=config.log.access_log)
    run_node(config, accept_restored_safety=args.accept_restored_safety)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _print(NodeClient(args.node).status())
    return 0


# ---- transactions ----

def _keys(args: argparse.Namespace) -> list[KeyPair]:
    paths = args.key or ([os.environ["BAKONG_KEY"]] if os.environ.get("BAKONG_KEY") else [])
    if not paths:
        raise CliError("no_key", "give --key FILE (or set BAKONG_KEY) to sign with")
    # An encrypted key file opens with BAKONG_KEY_PASSPHRASE (docs/keys.md); a plain one ignores it.
    passphrase = passphrase_from(None)
    return [read_key(p, passphrase) for p in paths]


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
        return EXIT_OK
    return _submit_and_report(client, tx, args)


def _submit_and_report(client: NodeClient, tx: Transaction, args: argparse.Namespace) -> int:
    """Submit, wait up to ``--timeout`` for a final status, print it; the exit status says how it ended."""
    started = time.monotonic()
    result = client.submit(tx)  # a resend of a final transaction answers its recorded status (idempotent)
    if result.get("status") == TxStatus.STATELESS_VALIDATION_SUCCESS and not args.no_wait:
        result = client.wait_final(tx.hash.hex(), timeout=max(0.0, args.timeout - (time.monotonic() - started)))
        if result.get("status") not in (TxStatus.COMMITTED, TxStatus.REJECTED, TxStatus.STATELESS_VALIDATION_FAILED):
            # During a halt a transaction is accepted and then waits; "accepted" is not "paid".
            raise CliError("timeout", f"still pending: {tx.hash.hex()} (not final after {args.timeout:g} s; "
                                      f"bakong tx status {tx.hash.hex()} tells later)", EXIT_PENDING)
    return _report(result)


def _seconds(text: str) -> float:
    """``--timeout``: a positive number of seconds (else a usage error, exit 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _report(result: dict[str, Any]) -> int:
    """Print a transaction's status (stdout, JSON); a refusal also gets its one line on stderr."""
    _print(result)
    status = result.get("status")
    if status == TxStatus.COMMITTED or status == TxStatus.STATELESS_VALIDATION_SUCCESS:
        return EXIT_OK
    code = result.get("error_code") or str(status).lower()
    where = f" at height {result['height']}" if "height" in result else ""
    print(f"error: {code}: {status}{where}: {result.get('message') or 'refused by the node'}".replace("\n", " "),
          file=sys.stderr)
    return EXIT_REJECTED


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
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            err = payload["error"]
            raise ClientError(err.get("code", "error"), err.get("message", ""), _status) from None
        return _report(payload if isinstance(payload, dict) else {"status": "STATELESS_VALIDATION_FAILED"})
    return _submit_and_report(NodeClient(args.node), tx, args)


def cmd_tx_status(args: argparse.Namespace) -> int:
    _print(NodeClient(args.node).tx_status(args.hash))
    return EXIT_OK


# ---- queries ----

def _query(args: argparse.Namespace, query: q.Query) -> int:
    for check, value in zip(type(query).CHECKS, query.values(), strict=True):
        check(value)  # the node's own checks, here: a bad cursor or page size is named before signing
    creator = args.creator or getattr(args, "account", None)
    if not creator:
        raise CliError("no_creator", "give --creator ACCOUNT: the account whose key signs the query")
    _print(NodeClient(args.node).query(creator, _keys(args)[0], query))
    return EXIT_OK


QueryBuilder = Callable[[argparse.Namespace], q.Query]
"""Builds a query from the parsed arguments (``limit`` and ``cursor`` are the paging flags)."""

QUERIES: tuple[tuple[str, str, QueryBuilder], ...] = (
    ("account", "an account: its domain, quorum and roles",
     lambda a: q.GetAccount(a.account)),
    ("assets", "an account's balances, a page of assets (alias: balance)",
     lambda a: q.GetAccountAssets(a.account, a.limit, a.cursor)),
    ("detail", "an account's key/value details, a page of them",
     lambda a: q.GetAccountDetail(a.account, a.writer, a.detail_key, a.limit, a.cursor)),
    ("txs", "an account's transactions, newest first, a page of them",
     lambda a: q.GetAccountTransactions(a.account, a.limit, a.cursor)),
    ("asset-txs", "an account's transactions in one asset, newest first, a page of them",
     lambda a: q.GetAccountAssetTransactions(a.account, a.asset, a.limit, a.cursor)),
    ("tx", "transactions by hash, with their statuses",
     lambda a: q.GetTransactions(tuple(a.hashes))),
    ("asset", "an asset's domain and precision",
     lambda a: q.GetAssetInfo(a.asset)),
    ("roles", "the roles defined on the chain",
     lambda a: q.GetRoles()),
    ("role-permissions", "the permissions of one role",
     lambda a: q.GetRolePermissions(a.role)),
    ("signatories", "the public keys that may sign for an account",
     lambda a: q.GetSignatories(a.account)),
    ("block", "a committed block by height",
     lambda a: q.GetBlock(a.height)),
    ("peers", "the network's peers (validators and observers) as the chain records them",
     lambda a: q.GetPeers()),
    ("pending", "the querying account's transactions waiting in this node's mempool, a page of them",
     lambda a: q.GetPendingTransactions(a.limit, a.cursor)),
)
"""One ``bakong query`` subcommand per query of ``node.ledger.queries`` (a test holds them equal)."""

# Paged queries: (default page size, most per page, what the cursor is).
_PAGING = {
    "assets": (100, q.MAX_PAGE, "asset id to start from"),
    "detail": (q.MAX_DETAIL_PAGE, q.MAX_DETAIL_PAGE, '"writer/key" to start from'),
    "txs": (20, q.MAX_PAGE, "hash of the transaction to start from"),
    "asset-txs": (20, q.MAX_PAGE, "hash of the transaction to start from"),
    "pending": (20, q.MAX_PAGE, "hash of the transaction to start from"),
}


def _query_parser(qs: Any, name: str, summary: str, build: QueryBuilder,
                  common: Callable[[argparse.ArgumentParser], None]) -> None:
    qp = qs.add_parser(name, help=summary, description=summary, aliases=["balance"] if name == "assets" else [])
    common(qp)
    if name in ("account", "assets", "detail", "txs", "asset-txs", "signatories"):
        qp.add_argument("account", help="the account asked about, name@bank")
    if name == "asset-txs":
        qp.add_argument("asset", help="the asset, e.g. khr#nbc")
    if name == "asset":
        qp.add_argument("asset", help="the asset, e.g. khr#nbc")
    if name == "tx":
        qp.add_argument("hashes", nargs="+", metavar="HASH",
                        help=f"transaction hash, 64 hex characters (up to {q.MAX_TX_HASHES})")
    if name == "role-permissions":
        qp.add_argument("role", help="the role's name, e.g. customer")
    if name == "block":
        qp.add_argument("height", type=int, help="the block's height (0 is genesis)")
    if name == "detail":
        qp.add_argument("--writer", help="only details written by this account")
        qp.add_argument("--detail-key", metavar="KEY", help="only details under this key")
    if name in _PAGING:
        default, most, cursor = _PAGING[name]
        qp.add_argument("--limit", type=int, default=default, help=f"page size, 1..{most} (default {default})")
        qp.add_argument("--cursor", help=f"where the page starts: the answer's \"next\" ({cursor})")
    needs_creator = "account" not in {a.dest for a in qp._actions}
    qp.add_argument("--creator", required=needs_creator,
                    help="querying account, whose key signs" + ("" if needs_creator else " (default: the account)"))
    qp.set_defaults(func=lambda a: _query(a, build(a)))


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
    from node.tools.testnet_control import resolve_shape

    directory = Path(args.dir)
    shape = resolve_shape(directory, validators=args.validators, observers=args.observers, api_port=args.api_port,
                          p2p_port=args.p2p_port)
    return run_demo(directory, keep=args.keep, transfers=args.transfers, api_port=shape.api_port,
                    p2p_port=shape.p2p_port, validators=shape.validators, observers=shape.observers)


def cmd_testnet_up(args: argparse.Namespace) -> int:
    from node.tools.testnet_control import resolve_shape, stop, up

    directory = Path(args.dir)
    # An existing network starts as it was written; flags that contradict it are refused (issue 16).
    shape = resolve_shape(directory, validators=args.validators, observers=args.observers, api_port=args.api_port,
                          p2p_port=args.p2p_port)
    fresh = not (directory / "testnet.json").exists()
    print(f"{'Creating and starting' if fresh else 'Starting'} a testnet in {directory} "
          f"({shape.validators} validators + {shape.observers} observers)")
    _nodes, procs = up(directory, validators=shape.validators, observers=shape.observers, api_port=shape.api_port,
                       p2p_port=shape.p2p_port)
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
        concurrency=args.concurrency, pool=args.pool, seed=args.seed, max_pending=args.max_pending,
        workload=args.workload, lookup_rate=args.lookup_rate, lookup_connections=args.lookup_connections,
        lookup_own_core=args.lookup_own_core, tx_format=args.tx_format))


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
    sp.add_argument("--validators", type=int, default=4, help="validators of the testnet (default 4)")
    sp.add_argument("--observers", type=int, default=1, help="observers of the testnet (default 1)")
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
    sp.add_argument("--workload", choices=("transfer", "khqr"), default="transfer",
                    help="what is sent: plain transfers (default) or merchant KHQR payments")
    sp.add_argument("--lookup-rate", type=float, default=0.0, metavar="N",
                    help="with --workload khqr: check_transaction_by_md5 requests/s offered to the observer "
                         "during the run (default 0 = none)")
    sp.add_argument("--lookup-connections", type=int, default=32,
                    help="keep-alive connections of the md5 look-up load (default 32)")
    sp.add_argument("--format", choices=("native", "iroha"), default="native", dest="tx_format",
                    help="with --workload transfer: native transactions (default) or Iroha 1 protobuf ones, "
                         "half signed with standard, half with legacy (ed25519/sha3) signatures")
    sp.add_argument("--lookup-own-core", action="store_true",
                    help="with --lookup-rate: pin the looked-up node to the last CPU core and every other "
                         "process of the bench to the others, as if that bank's node had its own machine")
    sp.set_defaults(func=cmd_bench_load)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bakong", description="Bakong-like permissioned BFT ledger node (docs/cli.md)",
                                epilog="exit status: 0 ok, 1 error, 2 usage, 3 rejected, 4 unreachable, "
                                       "5 still pending, 6 busy (retry)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def node_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--node", default=DEFAULT_NODE, help="node API URL (env BAKONG_NODE; default %(default)s)")

    def key_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--key", action="append", help="key file of a signatory (repeat for multisig; env BAKONG_KEY)")

    def waiting(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--no-wait", action="store_true", help="do not wait for COMMITTED/REJECTED")
        sp.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help="wait at most this long for COMMITTED/REJECTED, then exit 5 'still pending' "
                             "(default %(default)g)")

    def signer(sp: argparse.ArgumentParser, creator_required: bool = True) -> None:
        node_opt(sp)
        sp.add_argument("--creator", required=creator_required, help="account that signs (name@bank)")
        key_opt(sp)
        waiting(sp)
        sp.add_argument("--save", metavar="FILE", help="also write the signed transaction (hex) to FILE")
        sp.add_argument("--no-submit", action="store_true", help="only sign and --save; submit later with tx send")

    k = sub.add_parser("keygen", help="make an Ed25519 key file (as key new); prints the public key")
    k.add_argument("--out", help="write the key file here (required: a key not kept is a key lost)")
    k.add_argument("--force", action="store_true", help="overwrite an existing key file (its key is lost)")
    k.set_defaults(func=cmd_keygen)
    key_cli.register(sub)
    ops_cli.register(sub)  # init, backup, restore, migrate (docs/operations.md)
    config_command.register(sub)
    api_token_cli.register(sub)  # Open API bearer tokens (docs/open-api.md)
    pay_cli.register(sub)  # pay a KHQR code (docs/khqr.md)

    n = sub.add_parser("node", help="run a node")
    n.add_argument("--config", required=True, help="the node's TOML config file (docs/configuration.md)")
    n.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                   help="overrides [log] level for this run")
    n.add_argument("--log-format", choices=("text", "json"), help="overrides [log] format for this run")
    n.add_argument("--accept-restored-safety", action="store_true",
                   help="a validator restored from a backup: accept its own earlier signatures found while it "
                        "catches up (only when no other process holds its key; docs/operations.md)")
    n.set_defaults(func=cmd_node)

    s = sub.add_parser("status", help="a node's status")
    node_opt(s)
    s.set_defaults(func=cmd_status)

    tx = sub.add_parser("tx", help="build, sign and submit transactions").add_subparsers(
        dest="tx", required=True, metavar="TX")
    t = tx.add_parser("transfer", help="move an amount of an asset between accounts")
    signer(t, creator_required=False)
    t.add_argument("--from", dest="src", required=True, help="paying account, name@bank (the signer by default)")
    t.add_argument("--to", required=True, help="receiving account, name@bank")
    t.add_argument("--asset", required=True, help="the asset, e.g. khr#nbc")
    t.add_argument("--amount", required=True, help='decimal string, e.g. "1500.50"')
    t.add_argument("--description", default="", help="free text on record with the transfer (at most 256 characters)")
    t.set_defaults(func=cmd_transfer)
    a = tx.add_parser("create-account", help="open an account in the creator's bank")
    signer(a)
    a.add_argument("--account", required=True, help="name@bank")
    a.add_argument("--public-key", required=True, help="the account's first signatory, hex (bakong key new prints it)")
    a.set_defaults(func=cmd_create_account)
    for name, func, verb in (("mint", cmd_mint, "issue"), ("burn", cmd_burn, "destroy")):
        m = tx.add_parser(name, help=f"{verb} an amount of an asset in the creator's account")
        signer(m)
        m.add_argument("--asset", required=True, help="the asset, e.g. khr#nbc")
        m.add_argument("--amount", required=True, help='decimal string, e.g. "1000.00"')
        m.set_defaults(func=func)
    for name in ("freeze", "unfreeze"):
        fz = tx.add_parser(name, help=f"{name} an account (needs can_freeze_account)")
        signer(fz)
        fz.add_argument("--account", required=True, help="name@bank")
        fz.add_argument("--reason", required=True, help="a case or order reference (at most 256 characters)")
        fz.set_defaults(func=cmd_freeze)
    su = tx.add_parser("submit", help="a transaction described in a JSON file")
    signer(su, creator_required=False)
    su.add_argument("file", help='JSON: {"creator": ..., "commands": [{"type": "TransferAsset", ...}, ...]}')
    su.set_defaults(func=cmd_submit)
    se = tx.add_parser("send", help="submit a signed transaction saved with --save (hex); "
                                    "a resend answers its current status")
    node_opt(se)
    se.add_argument("file", help="the file --save wrote (hex of the signed transaction)")
    waiting(se)
    se.set_defaults(func=cmd_send)
    st = tx.add_parser("status", help="a transaction's status by hash")
    node_opt(st)
    st.add_argument("hash", help="the transaction hash, 64 hex characters")
    st.set_defaults(func=cmd_tx_status)

    qs = sub.add_parser("query", help="signed queries (all 13 of node.ledger.queries)").add_subparsers(
        dest="query", required=True, metavar="QUERY")

    def query_common(qp: argparse.ArgumentParser) -> None:
        node_opt(qp)
        key_opt(qp)

    for name, summary, build in QUERIES:
        _query_parser(qs, name, summary, build, query_common)

    shape_help = "(default: the directory's own network, else %s)"
    tn = sub.add_parser("testnet", help="local networks").add_subparsers(dest="testnet", required=True,
                                                                           metavar="ACTION")
    ti = tn.add_parser("init", help="write keys, genesis and node configs")
    ti.add_argument("--dir", required=True, help="the testnet directory (must not hold one)")
    ti.add_argument("--validators", type=int, default=4, help="validator nodes (default 4)")
    ti.add_argument("--observers", type=int, default=1, help="observer nodes (default 1)")
    ti.add_argument("--api-port", type=int, default=8100, help="first node's API port, then one up per node")
    ti.add_argument("--p2p-port", type=int, default=7100, help="first node's p2p port, then one up per node")
    ti.set_defaults(func=cmd_testnet_init)
    for name, summary in (("up", "start a local network (one OS process per node)"),
                          ("run", "start the network and run the demo workload")):
        tp = tn.add_parser(name, help=summary,
                           description=summary + ". A directory that holds a network starts that network; "
                                                 "flags that differ from it are refused.")
        tp.add_argument("--dir", required=True, help="the testnet directory (written first if it holds none)")
        tp.add_argument("--validators", type=int, help="validator nodes " + shape_help % 4)
        tp.add_argument("--observers", type=int, help="observer nodes " + shape_help % 1)
        tp.add_argument("--api-port", type=int, help="first node's API port " + shape_help % 8100)
        tp.add_argument("--p2p-port", type=int, help="first node's p2p port " + shape_help % 7100)
        if name == "up":
            tp.add_argument("--detach", action="store_true", help="return once healthy; stop with testnet down")
            tp.set_defaults(func=cmd_testnet_up)
        else:
            tp.add_argument("--keep", action="store_true", help="leave the network running after the demo")
            tp.add_argument("--transfers", type=int, default=200, help="transfers of the demo workload (default 200)")
            tp.set_defaults(func=cmd_testnet_run)
    td = tn.add_parser("down", help="stop a network started with up --detach")
    td.add_argument("--dir", required=True, help="the testnet directory")
    td.set_defaults(func=cmd_testnet_down)

    bench = sub.add_parser("bench", help="benchmarks (default: load, e.g. bakong bench --duration 60)")
    _bench_load_options(bench)
    b = bench.add_subparsers(dest="bench", metavar="BENCH")
    _bench_load_options(b.add_parser("load", help="a testnet under open-loop transfer load, submit to COMMITTED"))
    ba = b.add_parser("apply", help="execution + commit and signature verification on one core")
    ba.add_argument("--transfers", type=int, default=50_000, help="transfers executed (default 50,000)")
    ba.add_argument("--accounts", type=int, default=1000, help="funded accounts they move between (default 1000)")
    ba.add_argument("--block-size", type=int, default=2000, help="transfers per block (default 2000)")
    ba.add_argument("--repeats", type=int, default=3, help="runs; the median is reported (default 3)")
    ba.add_argument("--json", help="write results here")
    ba.set_defaults(func=cmd_bench_apply)
    bi = b.add_parser("idle", help="an empty testnet: CPU per node and blocks per interval, no traffic")
    bi.add_argument("--duration", type=float, default=30.0, help="seconds measured (default 30)")
    bi.add_argument("--settle", type=float, default=5.0, help="seconds after start-up before measuring (default 5)")
    bi.add_argument("--validators", type=int, default=4, help="validators of the testnet (default 4)")
    bi.add_argument("--observers", type=int, default=1, help="observers of the testnet (default 1)")
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
    _add_version(p)
    return p


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every subcommand's parser under it, each once (aliases share a parser)."""
    yield parser
    seen: set[int] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if id(child) not in seen:
                    seen.add(id(child))
                    yield from parsers(child)


def _version_text() -> str:
    from storage.db import FORMAT_VERSION  # the data format this build reads and writes

    return f"bakong {VERSION} (data format {FORMAT_VERSION})"


def _add_version(root: argparse.ArgumentParser) -> None:
    """``--version`` on every command and subcommand, whoever registered it (an operator types it anywhere)."""
    text = _version_text()
    for parser in parsers(root):
        if "--version" not in parser._option_string_actions:
            parser.add_argument("--version", action="version", version=text, help="print the version and exit")


def main(argv: list[str] | None = None) -> int:
    packing.install()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version (0) and usage errors (2): argparse has printed them
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 (typed errors carry a code; anything else still gets one line, no traceback)
        if args.command == "node":  # one exit status per class of cause (docs/reliability.md)
            from node.assembly import node_failure
            exc = node_failure(exc)
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return exit_status(exc)


def one_line(exc: BaseException) -> str:
    code = getattr(exc, "code", None) or exc.__class__.__name__
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return f"{code}: {message}".replace("\n", " ")


if __name__ == "__main__":
    sys.exit(main())
