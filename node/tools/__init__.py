"""Developer and operator tooling: local testnets, the demo, benchmarks and the chaos campaign.

Rules for this wing: may import anything in the product; nothing in the product imports it (only
``node.cli`` and tests do), so tooling never ships inside a running node's code path.
"""
