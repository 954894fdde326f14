"""``bakong init | backup | restore | migrate``: the operator commands (docs/operations.md).

``register(sub)`` adds them to the ``bakong`` parser (one line in ``node.cli.build_parser``); failures
are ``OpsError`` (or a storage, key or genesis error), printed by ``node.cli.main`` as one line
``error: <code>: <message>``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from node.ops import backup as ops_backup
from node.ops.init_node import InitOptions, init_node, instructions
from node.ops.migrate import migrate
from storage import db as storage_db

DEFAULT_NODE = "http://127.0.0.1:8100"


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def cmd_init(args: argparse.Namespace) -> int:
    opts = InitOptions(
        directory=Path(args.dir), name=args.name, role=args.role, p2p_address=args.p2p_address or args.p2p_listen,
        genesis=Path(args.genesis) if args.genesis else None, api_listen=args.api_listen,
        p2p_listen=args.p2p_listen, torii_listen=args.torii_listen,
        passphrase_file=Path(args.passphrase_file) if args.passphrase_file else None,
        central_bank_account=args.central_bank_account, force=args.force)
    print(instructions(init_node(opts), opts))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    done = ops_backup.backup(Path(args.data_dir), Path(args.out) if args.out else None, args.node, args.name,
                             args.timeout)
    _print({"backup": str(done.directory), "online": done.online, "manifest": done.manifest})
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    done = ops_backup.restore(Path(args.backup), Path(args.data_dir), Path(args.genesis) if args.genesis else None)
    next_steps = ["start the node: it catches up from its peers by block sync",
                  "a validator stops signing when it meets its own signatures made after the backup; once no "
                  "other process holds its key, start it with `bakong node --accept-restored-safety` "
                  "(docs/operations.md: why)"]
    if done.needs_migration:
        next_steps.insert(0, f"data format version {done.manifest['data_format_version']}: run `bakong migrate "
                             f"--data-dir {done.data_dir}` before starting the node")
    _print({"data_dir": str(done.data_dir), "height": done.head.height, "block_hash": done.head.block_hash.hex(),
            "state_root": done.head.state_root.hex(), "marker": str(done.marker), "next": next_steps})
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    done = migrate(Path(args.data_dir))
    _print({"data_dir": args.data_dir, "found": done.found, "reached": done.reached, "steps": done.steps,
            "current": done.reached == storage_db.FORMAT_VERSION})
    return 0


def register(sub: Any) -> None:
    """Add the operator commands to ``bakong``'s subcommands (``sub``: argparse's subparsers action)."""
    i = sub.add_parser("init", help="write ONE bank's node directory: key, commented config, join request",
                       description="Make a node directory for one bank on its own host: a new node key (mode "
                                   "0600), node.toml with every config key commented, and the AddPeer request for "
                                   "the central bank. Prints what to send and how to get the genesis.")
    i.add_argument("--dir", required=True, help="directory to write (must be empty unless --force)")
    i.add_argument("--name", required=True, help="this node's name, as the central bank will record it (e.g. prasac)")
    i.add_argument("--role", required=True, choices=("validator", "observer"),
                   help="observer: follows the chain and serves the API; validator: also signs blocks, once "
                        "the central bank has promoted it")
    i.add_argument("--genesis", metavar="FILE", help="the network's genesis.json (copied in; default: fetch it later)")
    i.add_argument("--api-listen", default="127.0.0.1:8100", metavar="HOST:PORT",
                   help="HTTP API address (default 127.0.0.1:8100)")
    i.add_argument("--p2p-listen", default="0.0.0.0:7100", metavar="HOST:PORT",
                   help="address peers connect to (default 0.0.0.0:7100)")
    i.add_argument("--torii-listen", default="127.0.0.1:50051", metavar="HOST:PORT",
                   help='Torii, Iroha 1\'s gRPC API, for banks\' Iroha clients (default 127.0.0.1:50051; "" for none)')
    i.add_argument("--p2p-address", metavar="HOST:PORT",
                   help="the address other banks' nodes dial (sent to the central bank; default: --p2p-listen, "
                        "which must then be a reachable address, not 0.0.0.0)")
    i.add_argument("--passphrase-file", metavar="FILE",
                   help="encrypt the key under the passphrase in FILE (mode 0600; env BAKONG_KEY_PASSPHRASE wins)")
    i.add_argument("--central-bank-account", default="admin@nbc", metavar="ACCOUNT",
                   help="the central bank account that signs the AddPeer (default admin@nbc)")
    i.add_argument("--force", action="store_true",
                   help="write into a non-empty directory (an existing node.key or data/ is still never replaced)")
    i.set_defaults(func=cmd_init)

    b = sub.add_parser("backup", help="back up a node's database (online while it runs, or of a stopped node)",
                       description="A running node writes the backup itself (POST /v1/admin/backup: a consistent "
                                   "snapshot of its last committed block) under DATA_DIR/backups/, then it is "
                                   "moved to --out; a stopped node's database is copied directly. The consensus "
                                   "safety record and the key are never part of a backup (docs/operations.md).")
    b.add_argument("--data-dir", required=True, help="the node's data_dir (from its config)")
    b.add_argument("--out", help="directory to create for the backup (default: DATA_DIR/backups/NAME)")
    b.add_argument("--node", default=os.environ.get("BAKONG_NODE", DEFAULT_NODE),
                   help="API URL of the node running on --data-dir (env BAKONG_NODE; default http://127.0.0.1:8100); "
                        "env BAKONG_OPERATOR_TOKEN is sent as its operator token")
    b.add_argument("--name", help="backup name (letters, digits, . _ -; default: h<height>-<UTC time>)")
    b.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the node (default 3600)")
    b.set_defaults(func=cmd_backup)

    r = sub.add_parser("restore", help="restore a backup into an EMPTY data directory, verified, marked RESTORED",
                       description="Copies the backup's database into DATA_DIR/ledger, checks chain, head and "
                                   "head block against its manifest, and writes DATA_DIR/RESTORED. Start the node "
                                   "on it; it catches up by block sync.")
    r.add_argument("--backup", required=True, help="a backup directory (from bakong backup)")
    r.add_argument("--data-dir", required=True, help="the node's data_dir: must be empty or absent")
    r.add_argument("--genesis", metavar="FILE", help="also check the backup was made from this genesis file")
    r.set_defaults(func=cmd_restore)

    m = sub.add_parser("migrate", help="upgrade a stopped node's database to this release's data format version")
    m.add_argument("--data-dir", required=True, help="the node's data_dir (the node must be stopped)")
    m.set_defaults(func=cmd_migrate)
