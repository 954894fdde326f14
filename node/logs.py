"""The node's log: level and format from ``[log]`` (or ``bakong node --log-level/--log-format``), UTC time.

Two formats, one record each line:

- ``text``: ``2026-12-02T03:41:07.123Z INFO bakong.p2p: peer 3f9a... down: disconnected`` for a person
  at a terminal or ``journalctl``;
- ``json``: ``{"ts": "...Z", "level": "INFO", "logger": "bakong.p2p", "msg": "...", ...}`` for a log
  shipper (Loki, Elasticsearch): no multi-line records (a traceback travels in the ``exc`` field).

Timestamps are always UTC with a ``Z``: nodes of one network run in several countries (Cambodia,
Thailand, Laos, Vietnam) and an operator lines their logs up. No secret is ever passed to a log call
(keys, passphrases and the operator token stay in their own modules); the formatter does not try to
scrub, because a scrubber that misses one spelling would give false comfort.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

# LogRecord attributes that are not "extra" fields a caller attached.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def utc_timestamp(created: float) -> str:
    """``2026-12-02T03:41:07.123Z`` (millisecond precision, always UTC)."""
    seconds = time.gmtime(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(created * 1000) % 1000:03d}Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{utc_timestamp(record.created)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"ts": utc_timestamp(record.created), "level": record.levelname,
                               "logger": record.name, "msg": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None,
              access_log: bool = False) -> None:
    """Send every record at ``level`` or above to ``stream`` (stderr) in ``fmt``; replaces earlier setup,
    so calling it again (the CLI's defaults, then the config's) is safe."""
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log is one line per request: optional ([log] access_log), off by default because
    # a loaded node answers thousands of requests a second.
    logging.getLogger("aiohttp.access").setLevel(logging.INFO if access_log else logging.WARNING)
