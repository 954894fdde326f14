"""The benchmarks behind ``bakong bench``: one module per job, so a figure can be traced to its source.

- ``load``       ``bakong bench load``: the run itself (testnet up, submit, drain, report, tear down).
- ``options``    its command line as one frozen record (``LoadOptions``).
- ``workload``   what is sent: pre-signed KHR/USD transfers between the bench accounts, a share invalid.
- ``khqr_workload`` ``--workload khqr``: the same draws as merchant KHQR payments, each with its QR's md5.
- ``lookups``    ``--lookup-rate``: a merchant bank's ``check_transaction_by_md5`` load on one node, measured
                 in a process of its own.
- ``tracking``   the fate of every pre-signed transaction (sent, accepted, committed, rejected, refused).
- ``client``     how it is sent: msgpack batches over HTTP, open-loop at a rate or as fast as accepted.
- ``chain_watch`` what the chain says: the watched validator's block stream, the heads at the end, and
                 why transactions were rejected in blocks.
- ``sampler``    what the machine says: CPU time and peak RSS per process, machine load, data-dir size.
- ``report``     the figures and the JSON from what was tracked and sampled, and the printed table.
- ``apply``      ``bakong bench apply``: the ledger's own cost per transfer, no network.
- ``idle``       ``bakong bench idle``: what an empty network costs.

Rules: measurement code asserts nothing about speed (a benchmark, not a test); the JSON field names are
read by docs/benchmarks.md and tests/test_bench_*.py, so a field is renamed in all three or not at all.
"""
