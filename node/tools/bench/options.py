"""What ``bakong bench load`` was asked to do: the command line as one frozen record.

Its own module because both the run (``load``) and the report (``report``, which echoes the options
into the JSON) read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoadOptions:
    duration: float = 60.0
    """Seconds of submission; the drain comes after."""
    rate: float = 0.0
    """Offered TPS; 0 = as fast as accepted."""
    accounts: int = 1000
    validators: int = 4
    observers: int = 1
    invalid_share: float = 0.02
    json_path: str | None = None
    directory: str | None = None
    keep: bool = False
    api_port: int = 18600
    p2p_port: int = 17600
    batch: int = 0
    """Transactions per POST; 0 = chosen from the rate."""
    drain: float = 10.0
    concurrency: int = 2
    pool: int = 0
    """Transfers to pre-sign; 0 = duration x rate (x ``POOL_RATE_FOR_MAX`` with ``--rate 0``)."""
    seed: int = 1
    max_pending: int = 20_000
    workload: str = "transfer"
    """``transfer`` (plain transfers) or ``khqr`` (merchant KHQR payments, ``khqr_workload``)."""
    lookup_rate: float = 0.0
    """With ``khqr``: ``check_transaction_by_md5`` requests per second offered to one node (0 = none)."""
    lookup_connections: int = 32
    lookup_own_core: bool = False
    tx_format: str = "native"
    """``native`` or ``iroha`` (the transfer pool as Iroha 1 protobuf transactions: ``iroha_workload``)."""
    """Pin the looked-up node to the last core and the rest of the bench to the others (Linux)."""
