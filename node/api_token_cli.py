"""``bakong api-token create | revoke | list``: the Open API's bearer tokens (docs/open-api.md).

Run on the node's host against its data directory (``--data-dir``, or ``--config`` to take it from the
node's config file); a running node picks a change up on its next request. ``create`` prints the token
once, on stdout alone (so ``TOKEN=$(bakong api-token create ...)`` works) and its record on stderr; the
file keeps only its sha256. ``list`` never shows a token. Failures are one line ``error: <code>:
<message>`` through ``node.cli.main``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from node.api.open_api_tokens import (
    MAX_DAYS,
    TokenError,
    TokenRecord,
    create_token,
    read_tokens,
    revoke_token,
    tokens_path,
)
from node.config import load_config


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir:
        return Path(args.data_dir)
    if args.config:
        return load_config(args.config).data_dir
    raise TokenError("bad_arguments", "give --data-dir DIR (the node's data_dir) or --config FILE")


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _line(record: TokenRecord, now_ms: int) -> str:
    state = "expired" if record.expired(now_ms) else "valid"
    return f"{record.name}\tcreated {_when(record.created_ms)}\texpires {_when(record.expires_ms)}\t{state}"


def cmd_create(args: argparse.Namespace) -> int:
    name = args.name or f"token-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    token, record = create_token(_data_dir(args), name, args.days)
    print(token)
    print(f"created {_line(record, record.created_ms)}; the token is shown only now", file=sys.stderr)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    record = revoke_token(_data_dir(args), args.name)
    print(f"revoked {record.name}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    now = int(time.time() * 1000)
    for record in read_tokens(tokens_path(_data_dir(args))):
        print(_line(record, now))
    return 0


def register(sub: Any) -> None:
    """Add ``api-token create|revoke|list`` to the ``bakong`` parser's subcommands."""
    p = sub.add_parser("api-token", help="Open API bearer tokens: create, revoke, list (docs/open-api.md)")
    ps = p.add_subparsers(dest="api_token_command", required=True)

    def where(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data-dir", metavar="DIR", help="the node's data_dir (where its tokens file lives)")
        sp.add_argument("--config", metavar="FILE", help="or the node's config file, to take data_dir from it")

    create = ps.add_parser("create", help="issue a token; prints it once (stdout)")
    where(create)
    create.add_argument("--name", help="a name to list and revoke it by (default token-<UTC time>)")
    create.add_argument("--days", type=int, default=90, help=f"valid this many days, 1 to {MAX_DAYS} "
                                                              "(default %(default)d)")
    create.set_defaults(func=cmd_create)

    revoke = ps.add_parser("revoke", help="revoke a token by name (a running node refuses it from its next request)")
    where(revoke)
    revoke.add_argument("name", help="the token's name (bakong api-token list)")
    revoke.set_defaults(func=cmd_revoke)

    listing = ps.add_parser("list", help="names, creation and expiry of the tokens (never the tokens)")
    where(listing)
    listing.set_defaults(func=cmd_list)
