"""The faults a chaos campaign applies, one function each, and the recovery measured after each.

Each fault takes the network, the campaign's seeded ``random.Random`` and how long to hold the fault,
fills in its record (which node, which commit point, the exit code) and returns the monotonic time the
fault *ended*: the recovery clock starts there. The order in which a fault draws from ``rng`` is part
of the schedule a seed reproduces, so it is kept stable.

Faults hit honest nodes only: the Byzantine validator, if any, stays at work for the whole campaign.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

from node.api.client import ClientError
from node.tools.chaos.network import STOP_TIMEOUT_S, ChaosNet

COMMIT_POINTS = ("before_write", "during_write", "after_write")
RECOVERY_WAIT_S = 30.0
HEAL_RETRY_S = 30.0  # how long isolate keeps asking a slow node to rejoin its peers
"""How long to wait for the chain to advance after a fault before recording no recovery at all."""

Record = dict[str, Any]
Fault = Callable[[ChaosNet, random.Random, float, Record], float]


def kill_validator(net: ChaosNet, rng: random.Random, hold: float, record: Record) -> float:
    """SIGKILL an honest validator; restart it after ``hold``."""
    return _kill_and_restart(net, rng.choice(net.honest_validators()), hold, record)


def kill_observer(net: ChaosNet, rng: random.Random, hold: float, record: Record) -> float:
    """SIGKILL the observer; restart it after ``hold``."""
    return _kill_and_restart(net, rng.choice(net.observers()), hold, record)


def _kill_and_restart(net: ChaosNet, name: str, hold: float, record: Record) -> float:
    record["node"] = name
    net.send(name, signal.SIGKILL)
    time.sleep(hold)
    end = time.monotonic()
    net.restart([name])
    return end


def pause_validator(net: ChaosNet, rng: random.Random, hold: float, record: Record) -> float:
    """SIGSTOP an honest validator; SIGCONT it after ``hold``."""
    name = rng.choice(net.honest_validators())
    record["node"] = name
    net.send(name, signal.SIGSTOP)
    time.sleep(hold)
    net.resume(name)
    end = time.monotonic()
    net.set_live(name, True)
    return end


def isolate(net: ChaosNet, rng: random.Random, hold: float, record: Record) -> float:
    """Cut one honest node off the p2p network (its API stays up); heal it after ``hold``."""
    name = rng.choice(net.honest_validators() + net.observers())
    record["node"] = name
    client = net.client(net.node(name))
    client._ok(*client._request("POST", "/v1/testing/isolate", {"isolated": True}))
    time.sleep(hold)
    # Healing must happen even when the node answers slowly (a loaded machine): retry, do not give up.
    deadline = time.monotonic() + HEAL_RETRY_S
    while True:
        try:
            client._ok(*client._request("POST", "/v1/testing/isolate", {"isolated": False}))
            break
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    return time.monotonic()


def kill_mid_commit(net: ChaosNet, rng: random.Random, hold: float, record: Record) -> float:
    """Arm an honest node to SIGKILL itself before, during or after the synced write of its next block
    commit; wait for it to die, restart it after ``hold``. ``exit`` is recorded so that an injection that
    did not fire (the node outlived its next commit) fails the run instead of passing unnoticed."""
    name = rng.choice(net.honest_validators() + net.observers())
    point = rng.choice(COMMIT_POINTS)
    record["node"], record["point"] = name, point
    client = net.client(net.node(name))
    client._ok(*client._request("POST", "/v1/testing/crash-at-commit", {"point": point}))
    net.set_live(name, False)
    proc = net.procs[name]
    try:  # it dies at its next commit: within a heartbeat interval
        proc.wait(timeout=STOP_TIMEOUT_S)
        record["exit"] = proc.returncode
    except subprocess.TimeoutExpired:
        record["exit"] = None
    net.send(name, signal.SIGKILL)
    time.sleep(hold)
    end = time.monotonic()
    net.restart([name])
    return end


def restart_all(net: ChaosNet, rng: random.Random, hold: float, record: Record) -> float:
    """SIGTERM every node (the Byzantine one too: it comes back in the same mode), start them all again."""
    record["hold_s"] = 0.0  # stopped, then started again at once
    names = [n.name for n in net.nodes]
    for name in names:  # every node is signalled before any is waited for: they stop together
        net.set_live(name, False)
        net.procs[name].send_signal(signal.SIGTERM)
    for name in names:
        net.wait_exit(name)
    end = time.monotonic()
    net.restart(names)
    return end


FAULTS: dict[str, Fault] = {
    "kill_validator": kill_validator,
    "pause_validator": pause_validator,
    "isolate": isolate,
    "kill_observer": kill_observer,
    "restart_all": restart_all,
    "kill_mid_commit": kill_mid_commit,
}
KINDS = tuple(FAULTS)


def perturb(net: ChaosNet, rng: random.Random, kind: str, t0: float) -> Record:
    """Apply one fault of ``kind``, then measure the recovery: the time from the fault's end until the
    highest height across the live nodes advances again (``None`` if not within ``RECOVERY_WAIT_S``)."""
    fault = FAULTS[kind]
    before = net.max_height()
    hold = rng.uniform(2.0, 4.0)
    record: Record = {"kind": kind, "t_s": round(time.monotonic() - t0, 2), "hold_s": round(hold, 2)}
    try:
        end = fault(net, rng, hold, record)
    except ClientError as exc:
        # A node too slow to answer a control request is itself a fault to survive, not a reason to
        # stop the campaign (it used to abort the whole run): record it and go on measuring recovery.
        record["control_error"] = f"{exc.code}: {exc.message}"
        end = time.monotonic()
    base = net.max_height()
    # With one honest validator out, two honest ones and a Byzantine one may stall the chain until it is
    # back: progress during the hold is recorded, not required.
    record["advanced_during_hold"] = base > before
    record["recovery_s"] = _recovery(net, base, end)
    return record


def _recovery(net: ChaosNet, base: int, end: float) -> float | None:
    deadline = end + RECOVERY_WAIT_S
    while time.monotonic() < deadline:
        if net.max_height() > base:
            return round(time.monotonic() - end, 2)
        time.sleep(0.05)
    return None
