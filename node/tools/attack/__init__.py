"""The attack suite behind ``bakong attack`` (and ./scripts/attack): each scenario is one attack from
the security campaign (issue 14), run against a fresh 4-validator + 1-observer testnet while honest
clients keep paying, then judged.

- ``verdict``    pure: the figures a scenario produces, the bounds, and the verdict with its reasons.
- ``harness``    the testnet (per-scenario config), the honest clients and the block watcher, RSS
                 and ``/healthz`` sampling, and the run of one scenario: baseline, attack, drain.
- ``hostile``    the attacker's raw tools: HTTP posts, idle sockets and WebSockets from its own
                 loopback address (127.0.0.2), never the honest clients' 127.0.0.1.
- ``payloads``   scenarios that attack with what they post: ``junk_creators``, ``signature_flood``,
                 ``account_limit_junk``, ``resign_payment``.
- ``sockets``    scenarios that attack with connections: ``idle_sockets``, ``handshake_slots``, ``ws_slots``.
- ``peers``      a Byzantine peer: ``lying_observer``.
- ``suite``      the scenario table, the CLI entry point, the report and its JSON.

Rules: loopback only (127.0.0.x). An attack acts only from outside the nodes, except ``lying_observer``,
whose liar is the ``[testing] byzantine = "lying_head"`` seam. A scenario fails when the defence is
missing: the verdict never softens a bound to make a run pass. The JSON field names are read by
docs/reliability.md and tests/integration/test_attack_short.py.
"""
