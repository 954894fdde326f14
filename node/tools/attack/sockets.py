"""Scenarios that attack with connections, from the attacker's address 127.0.0.2."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp

from node.api.client import ClientError
from node.tools.attack.harness import AttackContext
from node.tools.attack.hostile import ATTACKER, HONEST_OTHER, SlotHog, close_all, closed_by_peer, host_port, open_idle

IDLE_TARGET = "aclb"
RECONNECT_BOUND_S = 10.0
WS_TARGET = "aclb"


def idle_sockets(ctx: AttackContext) -> None:
    """Finding 4: thousands of idle sockets from one client address to one node's API, held for the
    window. The honest clients (another address) must still be served by that node, with a JSON answer."""
    host, port = host_port(ctx.net.node(IDLE_TARGET).api_url)
    want = int(ctx.net.spec.api.get("max_connections", 2000) * 1.25)  # more than the whole node allows
    socks = open_idle(host, port, want, ATTACKER, timeout=1.0)
    opened = len(socks)
    closed = 0
    while time.monotonic() < ctx.deadline:
        gone = closed_by_peer(socks)
        closed += len(gone)
        close_all(gone)
        dead = set(map(id, gone))
        socks = [s for s in socks if id(s) not in dead]
        time.sleep(0.5)
    ctx.figures.update({"target": IDLE_TARGET, "sockets_wanted": want, "sockets_opened": opened,
                        "closed_by_node_during_window": closed})
    probe = ctx.client(IDLE_TARGET, timeout=5.0)
    try:
        probe.status()
        served = True
    except ClientError as exc:
        served = exc.status in (503, 429)  # a JSON refusal is honest; a reset or timeout is not
    close_all(socks)
    ctx.check("target_answers_json", served, f"{IDLE_TARGET} answered a new client while {len(socks)} idle sockets "
              "were open" if served else f"{IDLE_TARGET} reset or timed out a new client")


def handshake_slots(ctx: AttackContext) -> None:
    """Finding 11: a stranger keeps every validator's pending-handshake slots full with silent p2p
    connections (re-opened as they time out) while two validators restart, one after the other. Each
    must be connected to every other validator again within ``RECONNECT_BOUND_S``."""
    validators = ctx.net.honest_validators()
    targets = [host_port(ctx.net.node(n).p2p_address) for n in validators]
    hog = SlotHog(targets, ctx.scaled(200, 80))
    hog.start()
    time.sleep(2.0)
    reconnect: dict[str, float | None] = {}
    for name in ("aclb", "abaa"):
        ctx.net.send(name, signal.SIGTERM)
        t0 = time.monotonic()
        ctx.net.restart([name])
        waited = _wait_connected(ctx, name, validators, RECONNECT_BOUND_S * 3)
        reconnect[name] = None if waited is None else round(time.monotonic() - t0, 1)
    ctx.wait_until_deadline()
    hog.stop()
    ctx.figures.update({"silent_connections_per_validator": hog.per_target, "opened": hog.opened,
                        "closed_by_nodes": hog.closed_by_target, "reconnect_s": reconnect})
    for name, secs in reconnect.items():
        ctx.check(f"{name}_reconnected", secs is not None and secs <= RECONNECT_BOUND_S,
                  f"{name} connected to every validator {secs} s after its restart (bound {RECONNECT_BOUND_S:g} s)"
                  if secs is not None else f"{name} not connected to every validator after {RECONNECT_BOUND_S * 3:g} s")


def _wait_connected(ctx: AttackContext, name: str, validators: list[str], timeout: float) -> float | None:
    """Wait until ``name`` reports a connection to every other validator; the time it took, or None."""
    client = ctx.client(name, timeout=2.0)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            peers = client.status().get("peers", [])
            up = {p["name"] for p in peers if p.get("connected")}
            if set(validators) - {name} <= up:
                return time.monotonic() - t0
        except ClientError:
            pass
        time.sleep(0.2)
    return None


def ws_slots(ctx: AttackContext) -> None:
    """Low finding: one client opens WebSocket status streams until the node refuses more; another
    client must still be able to subscribe to its own payment's status."""
    url = ctx.net.node(WS_TARGET).api_url
    slots = int(ctx.net.spec.api.get("max_websockets", 1000))
    taken, answer = asyncio.run(_hog_then_subscribe(url, slots + 20, ctx.deadline))
    ctx.figures.update({"target": WS_TARGET, "max_websockets": slots, "streams_taken_by_attacker": taken,
                        "other_client": answer})
    ctx.check("other_client_subscribes", answer.startswith("subscribed"),
              f"a second client's subscription while the attacker held {taken} streams: {answer}")


async def _hog_then_subscribe(url: str, want: int, deadline: float) -> tuple[int, str]:
    hog = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(ATTACKER, 0)))
    other = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(HONEST_OTHER, 0)))
    streams: list[aiohttp.ClientWebSocketResponse] = []
    try:
        for i in range(want):
            try:
                ws = await hog.ws_connect(f"{url}/v1/transactions/{i:064x}/ws",
                                          timeout=aiohttp.ClientWSTimeout(ws_close=2))
            except (aiohttp.ClientError, OSError, TimeoutError):
                break
            streams.append(ws)
        answer = "not tried"
        try:
            ws = await other.ws_connect(f"{url}/v1/transactions/{'ab' * 32}/ws")
            msg = await ws.receive(timeout=5)
            answer = f"subscribed, first message {msg.type.name}"
            await ws.close()
        except aiohttp.WSServerHandshakeError as exc:
            answer = f"refused: HTTP {exc.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            answer = f"failed: {exc.__class__.__name__}"
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        return len(streams), answer
    finally:
        for ws in streams:
            await ws.close()
        await hog.close()
        await other.close()
