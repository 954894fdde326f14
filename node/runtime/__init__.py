"""The node's moving parts around the sans-IO engine: the consensus driver (timers, signing, block
validation on the ledger worker, commits), the safety store that keeps a validator from signing twice
across restarts, and the faults seam that tests switch on with ``[testing]``.

Rules for this wing: imports ``consensus``, ``storage``, ``node.ledger``, ``node.intake`` and the
shared leaves; never ``p2p`` (it sends through callbacks it is given), ``api`` or ``tools``.
"""
