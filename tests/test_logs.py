"""The node's log format (node.logs): UTC timestamps, one JSON object per line, levels from config."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from node import logs


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_carry_utc_time_level_logger_message_and_the_traceback_in_one_line() -> None:
    out = io.StringIO()
    logs.configure("info", "json", out)
    log = logging.getLogger("bakong.test")
    log.debug("not shown at info")
    log.warning("peer %s down: %s", "3f9a", "disconnected", extra={"peer": "3f9a"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert (first["level"], first["logger"], first["msg"], first["peer"]) == (
        "WARNING", "bakong.test", "peer 3f9a down: disconnected", "3f9a")
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc"]


def test_text_lines_start_with_a_utc_timestamp_and_debug_shows_when_asked() -> None:
    out = io.StringIO()
    logs.configure("debug", "text", out)
    logging.getLogger("bakong.test").debug("detail")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z DEBUG bakong.test: detail\n", out.getvalue())


def test_the_utc_timestamp_ignores_the_local_time_zone() -> None:
    assert logs.utc_timestamp(0.0) == "1970-01-01T00:00:00.000Z"
    assert logs.utc_timestamp(1_764_645_667.123) == "2025-12-02T03:21:07.123Z"


def test_bad_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError):
        logs.configure("verbose", "text")
    with pytest.raises(ValueError):
        logs.configure("info", "xml")
