"""The relay as a process: ``python -m node.tools.geo.relay_process SPEC.json``, run inside the hub.

SPEC holds ``routes`` (listen, target, country) and ``subnets`` (country -> CIDR). Commands arrive one
JSON object per line on stdin and each is answered by one line on stdout (``{"ok": true, ...}``):

``{"op": "ping"}``; ``{"op": "profile", "one_way_ms": F, "jitter_ms": F, "loss": F}`` (every
inter-country pair); ``{"op": "isolate", "country": C}`` (cut C from every other country; answers
``cut``, the connections aborted); ``{"op": "heal"}``; ``{"op": "stats"}`` (the counters). The process
ends when stdin closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.tools.geo.relay import LinkProfile, Relay, Route


def country_lookup(subnets: dict[str, str]) -> Callable[[str], str]:
    nets = [(ipaddress.ip_network(cidr), code) for code, cidr in subnets.items()]

    def country_of(ip: str) -> str:
        address = ipaddress.ip_address(ip)
        return next((code for net, code in nets if address in net), "?")

    return country_of


def apply(relay: Relay, countries: list[str], cmd: dict[str, Any]) -> dict[str, Any]:
    op = cmd.get("op")
    if op == "ping":
        return {"ok": True}
    if op == "profile":
        relay.set_default(LinkProfile(float(cmd.get("one_way_ms", 0)), float(cmd.get("jitter_ms", 0)),
                                      float(cmd.get("loss", 0))))
        return {"ok": True}
    if op == "isolate":
        return {"ok": True, "cut": relay.isolate(str(cmd["country"]), countries)}
    if op == "heal":
        relay.heal()
        return {"ok": True}
    if op == "stats":
        return {"ok": True, **dataclasses.asdict(relay.counters)}
    return {"ok": False, "error": f"unknown op {op!r}"}


async def serve(spec: dict[str, Any]) -> None:
    routes = [Route(tuple(r["listen"]), tuple(r["target"]), r["country"]) for r in spec["routes"]]
    relay = Relay(routes, country_lookup(spec["subnets"]), seed=int(spec.get("seed", 0)))
    await relay.start()
    countries = list(spec["subnets"])
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            try:
                answer = apply(relay, countries, json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                answer = {"ok": False, "error": repr(exc)}
            print(json.dumps(answer), flush=True)
    finally:
        await relay.close()


def main() -> int:
    asyncio.run(serve(json.loads(Path(sys.argv[1]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
