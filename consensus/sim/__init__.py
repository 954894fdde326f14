"""Deterministic simulator for the consensus engine (the only part of ``consensus`` with randomness).

``scenario`` describes a run, ``network`` is the seeded virtual network, ``byzantine`` the faulty
behaviours, ``simulator`` drives n engines on a virtual clock, ``checks`` states the properties, and
``bench`` prints heights per CPU-second. Randomness comes only from ``random.Random(seed)``.
"""
