"""The package version, one definition for ``--version``, ``/v1/status`` and logs."""

from __future__ import annotations

import importlib.metadata

try:
    VERSION: str = importlib.metadata.version("bakong-ledger")
except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0.0.0+unknown"

__all__ = ["VERSION"]
