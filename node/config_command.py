"""``bakong config check --config FILE``: the node's own config check, without starting a node.

An operator runs it after editing a config (or in a deployment pipeline) to learn of a typo before a
restart does. Same one line and exit status as a node refusing the file at start.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from node.config import ConfigError, load_config

EXIT_CONFIG = 78
"""EX_CONFIG, as ``bakong node`` exits on a bad config (``node.assembly.EXIT_CONFIG``)."""


def cmd_check(args: argparse.Namespace) -> int:
    try:
        load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc.code}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"ok: {args.config}")
    return 0


def register(sub: Any) -> None:
    """Add the ``config`` command group to the ``bakong`` parser's subcommands."""
    group = sub.add_parser("config", help="node configuration").add_subparsers(dest="config_command", required=True)
    check = group.add_parser("check", help="check a node config file against the schema (docs/configuration.md)")
    check.add_argument("--config", required=True, help="the node config file (TOML)")
    check.set_defaults(func=cmd_check)
