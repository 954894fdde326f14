"""The memory of answered queries: exact repeats refused inside the window, forgotten after it, bounded."""

from __future__ import annotations

from node.api.query_replay import AnsweredQueries
from node.ledger.queries import QUERY_TIME_WINDOW

WINDOW = QUERY_TIME_WINDOW.past_ms


def test_a_repeat_inside_the_window_is_refused_and_other_bytes_are_not() -> None:
    seen = AnsweredQueries()
    assert seen.first_time(b"query-1", created_ms=1_000, now_ms=1_000)
    assert not seen.first_time(b"query-1", created_ms=1_000, now_ms=1_000 + WINDOW)
    assert seen.first_time(b"query-2", created_ms=1_000, now_ms=1_001)


def test_a_query_is_forgotten_once_it_left_its_window_and_memory_stays_bounded() -> None:
    seen = AnsweredQueries(capacity=3)
    seen.first_time(b"old", created_ms=0, now_ms=0)
    seen.first_time(b"new", created_ms=WINDOW, now_ms=WINDOW)
    assert len(seen) == 2
    seen.first_time(b"newer", created_ms=WINDOW + 1, now_ms=WINDOW + 1)  # "old" expired at WINDOW
    assert len(seen) == 2
    for i in range(10):
        seen.first_time(b"flood%d" % i, created_ms=WINDOW + 2, now_ms=WINDOW + 2)
    assert len(seen) == 3  # the oldest go first past the capacity
