"""Developer and operator tooling: local testnets, the demo, benchmarks and the chaos campaign.

- ``testnet``          write a local network's genesis, keys and configs; start one node process.
- ``testnet_control``  ``bakong testnet up`` / ``down``: start, health-wait and stop a whole network.
- ``demo``             ``bakong testnet run``: a short scripted workload on a fresh network.
- ``bench/``           ``bakong bench load | apply | idle``: workload, client, samplers, report.
- ``chaos/``           ``bakong chaos``: faults under load, then one check per invariant.

Rules for this wing: may import anything in the product; nothing in the product imports it (only
``node.cli`` and tests do), so tooling never ships inside a running node's code path. Faults reach a
node only through what it exposes (signals, its API, the ``/v1/testing/*`` routes it serves when
``[testing] fault_injection`` is on), never by importing its internals.
"""
