"""Seats shared among the API's clients (``node.api.shares``): a total and a per-client share."""

from __future__ import annotations

from node.api.shares import Refusal, Seats


def test_a_client_past_its_share_is_refused_while_another_still_gets_a_seat() -> None:
    seats = Seats(total=10, per_client=2)
    assert [seats.take("a"), seats.take("a"), seats.take("a")] == [None, None, Refusal.PER_CLIENT]
    assert seats.take("b") is None
    assert (seats.held_by("a"), seats.taken) == (2, 3)


def test_past_the_total_everyone_is_refused_until_a_seat_is_given_back() -> None:
    seats = Seats(total=2, per_client=5)
    assert [seats.take("a"), seats.take("b"), seats.take("c")] == [None, None, Refusal.TOTAL]
    seats.give_back("a")
    assert seats.take("c") is None


def test_a_client_that_gave_every_seat_back_is_forgotten() -> None:
    seats = Seats(total=2, per_client=2)
    seats.take("a")
    seats.give_back("a")
    assert (seats.held_by("a"), seats.taken, len(seats._held)) == (0, 0, 0)
