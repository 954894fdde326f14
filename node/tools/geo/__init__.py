"""The geography campaign behind ``bakong geo``: the testnet spread over countries, WAN between them.

- ``topology``       one network namespace per country around a hub namespace, veth pairs, addresses;
                     teardown and ``--cleanup``. Never touches the host's own network.
- ``relay``          the delaying TCP relay on every inter-country link: latency, jitter, loss as
                     retransmission stalls, partitions (this kernel has no netem).
- ``relay_process``  the relay as its own process in the hub, driven by JSON lines on stdin.
- ``network``        the testnet's files with peer addresses at the relay, the node and relay processes.
- ``phases``         a load phase per RTT setting (bench's client, tracking and report), the partition
                     episodes and the height log that judges them.
- ``campaign``       the run: options, setup, phases, end checks (chaos's chain view and invariants),
                     verdict, summary, JSON.

Rules: tools wing (imports anything; nothing in the product imports it). Only addresses inside the
namespaces a run creates (and 127.0.0.1 in the relay's unit tests) are used. The JSON field names are
read by docs/benchmarks.md, docs/reliability.md and tests/integration/test_geo_short.py.
"""
