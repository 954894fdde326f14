"""The node's version, shown by ``--version``, ``/v1/status`` and the start-up log line.

It is the package version of ``bakong-ledger`` (pyproject.toml). An installed package (``pip install``,
including ``-e``) answers from its metadata; a source tree run without installing reads pyproject.toml
directly, so a checkout still reports its version. ``UNKNOWN`` only when neither is there.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGE = "bakong-ledger"
UNKNOWN = "0.0.0+unknown"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _from_pyproject(path: Path | None = None) -> str:
    try:
        value = tomllib.loads((path or PYPROJECT).read_text())["project"]["version"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return UNKNOWN
    return value if isinstance(value, str) else UNKNOWN


def package_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return _from_pyproject()


VERSION: str = package_version()

__all__ = ["VERSION"]
