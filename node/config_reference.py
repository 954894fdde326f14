"""The reference of every config key, generated from ``node.config.SCHEMA`` into docs/configuration.md.

``docs/configuration.md`` is hand-written down to ``MARKER`` and generated after it, so the reference
cannot drift from the schema (``tests/test_config.py`` checks it is current). Regenerate with::

    .venv/bin/python -m node.config_reference --write
"""

from __future__ import annotations

import sys
from pathlib import Path

from node.config import KEY_PASSPHRASE_ENV, OPERATOR_TOKEN_ENV, REQUIRED, SCHEMA, Section, toml_value

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
MARKER = ("<!-- generated from node/config.py by `python -m node.config_reference --write`; "
          "edit the schema, not below -->")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(section: Section) -> list[str]:
    title = f"`[{section.name}]`" if section.name else "Top level"
    lines = [f"### {title}", "", section.doc, "", "| key | value | default | description |", "|---|---|---|---|"]
    for key in section.keys:
        default = "required" if key.default is REQUIRED else f"`{toml_value(section.default(key))}`"
        lines.append(f"| `{section.dotted(key.name)}` | {_cell(key.kind.expected)} | {_cell(default)} "
                     f"| {_cell(key.doc)} |")
    return lines + [""]


def reference() -> str:
    """The generated part of docs/configuration.md (after ``MARKER``)."""
    lines = ["## Reference", "",
             "Every key a node config may hold. A key left out takes its default; any other key is refused.", ""]
    for section in SCHEMA:
        lines += _section(section)
    lines += ["### Environment", "", "| variable | instead of | description |", "|---|---|---|",
              f"| `{OPERATOR_TOKEN_ENV}` | `api.operator_token_file` | The operator token itself (surrounding "
              "whitespace ignored, at least 16 characters). When set it wins over the file, even an empty value "
              "(refused as too short). |",
              f"| `{KEY_PASSPHRASE_ENV}` | `key_passphrase_file` | The passphrase of an encrypted `key_file`; when "
              "set it wins over the file. |", ""]
    return "\n".join(lines)


def document(current: str) -> str:
    """``current`` (the doc as it is) with everything after the marker replaced by ``reference()``."""
    head, found, _ = current.partition(MARKER)
    if not found:
        raise ValueError(f"{DOC} lacks the marker line {MARKER!r}")
    return head + MARKER + "\n\n" + reference()


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        DOC.write_text(document(DOC.read_text()))
        return 0
    if argv:
        print("usage: python -m node.config_reference [--write]", file=sys.stderr)
        return 2
    sys.stdout.write(reference())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
