"""``node.version.VERSION`` is the package version (pyproject.toml), installed or not (issue 16: "no
version anywhere")."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

from node import version

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_version_is_the_one_pyproject_declares() -> None:
    assert tomllib.loads(PYPROJECT.read_text())["project"]["version"] == version.VERSION


def test_a_source_tree_that_was_never_installed_reads_pyproject(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version, "version", not_installed)
    assert version.package_version() == tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    monkeypatch.setattr(version, "PYPROJECT", tmp_path / "absent.toml")
    assert version.package_version() == version.UNKNOWN
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "bakong-ledger"\nversion = "9.8.7"\n')
    assert version._from_pyproject(tmp_path / "pyproject.toml") == "9.8.7"
