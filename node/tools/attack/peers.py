"""A Byzantine peer: the observer announces a head far above the real one and never serves it."""

from __future__ import annotations

import signal
import time

from node.api.client import ClientError
from node.tools.attack.harness import AttackContext

LIAR = "ftb"
LAGGARD = "aclb"
SECOND_DOWN = "abaa"
BEHIND = 40
"""Blocks the restarted validator misses: more than block sync's 32-block window."""
CATCH_UP_BOUND_S = 20.0
SECOND_DOWN_S = 6.0


def lying_observer(ctx: AttackContext) -> None:
    """Finding 5: observer ftb runs ``[testing] byzantine = "lying_head"`` (every head announcement is
    1,000,000 heights above its real head; requests for those go unanswered). A validator stopped
    until it is ``BEHIND`` blocks behind is restarted: it must catch up within ``CATCH_UP_BOUND_S``;
    then another validator is stopped, and the chain must still commit (the caught-up one is needed
    for the quorum)."""
    net = ctx.net
    behind = ctx.scaled(BEHIND, 34)
    net.send(LAGGARD, signal.SIGTERM)
    left_at = net.max_height()
    deadline = time.monotonic() + 120
    while net.max_height() < left_at + behind and time.monotonic() < deadline:
        time.sleep(0.25)
    gap = net.max_height() - left_at
    t0 = time.monotonic()
    net.restart([LAGGARD])
    caught = _caught_up(ctx, LAGGARD, CATCH_UP_BOUND_S * 3)
    catch_up_s = None if caught is None else round(time.monotonic() - t0, 1)
    second_blocks = None
    if catch_up_s is not None:
        net.send(SECOND_DOWN, signal.SIGTERM)
        h0 = net.max_height()
        time.sleep(SECOND_DOWN_S)
        second_blocks = net.max_height() - h0
        net.restart([SECOND_DOWN])
    ctx.wait_until_deadline()
    ctx.figures.update({"liar": LIAR, "laggard": LAGGARD, "blocks_behind": gap, "catch_up_s": catch_up_s,
                        "blocks_with_second_validator_down": second_blocks})
    ctx.check("laggard_caught_up", catch_up_s is not None and catch_up_s <= CATCH_UP_BOUND_S,
              f"{LAGGARD}, {gap} blocks behind, caught up in {catch_up_s} s (bound {CATCH_UP_BOUND_S:g} s)"
              if catch_up_s is not None else f"{LAGGARD}, {gap} blocks behind, not caught up")
    ctx.check("live_with_second_validator_down", bool(second_blocks),
              f"{second_blocks} blocks in {SECOND_DOWN_S:g} s with {SECOND_DOWN} down after the catch-up")


def _caught_up(ctx: AttackContext, name: str, timeout: float) -> float | None:
    client = ctx.client(name, timeout=2.0)
    others = [n for n in ctx.net.honest_validators() if n != name]
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            mine = int(client.status()["height"])
            top = max((int(ctx.client(n, 2.0).status()["height"]) for n in others), default=0)
            if mine >= top - 1:
                return time.monotonic() - t0
        except (ClientError, KeyError, ValueError):
            pass
        time.sleep(0.25)
    return None
