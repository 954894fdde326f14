"""The chaos campaign behind ``bakong chaos`` (and ./scripts/chaos): faults on a real testnet under load,
then the invariants a payment network must keep through them.

- ``campaign``       the run: setup / perturbation loop / teardown, the result record and its summary.
- ``network``        the 4+1 testnet, its processes and which nodes are live.
- ``load``           the steady load thread and the status poller, and what the nodes promised.
- ``perturbations``  one function per fault (kill, pause, isolate, restart, kill mid-commit), and the
                     recovery time measured after each.
- ``observe``        reading the end state from the nodes: every block, heads, statuses, balances,
                     evidence, the Byzantine node's counters.
- ``invariants``     one pure function per invariant (no fork, nothing committed or accepted lost, no
                     duplicate, money conserved, heights advance, evidence names only the Byzantine
                     node, recovery in time, commit crashes fired) and the verdict over them.

Rules: faults reach a node only from outside (signals, or the ``/v1/testing/*`` routes a node serves
only with ``[testing] fault_injection``); ``observe`` reads, ``invariants`` judges, neither acts. The JSON
field names are read by docs/reliability.md and tests/integration/test_chaos_short.py.
"""
