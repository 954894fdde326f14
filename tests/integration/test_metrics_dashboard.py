"""Every metric the shipped Grafana dashboard and Prometheus alert rules use exists on a running node.

One real node process (a 1-validator testnet, 0.5 s heartbeat), scraped after a few blocks. A panel or
rule that names a metric the node does not export would show "No data" or never fire, silently; so
would one that names a counter without its ``_total`` or a histogram without ``_bucket``. Renaming a
metric in node/metrics.py without the configs (or the reverse) fails here.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import ROOT, RunningNet

DASHBOARD = ROOT / "configs" / "grafana" / "bakong-dashboard.json"
ALERTS = ROOT / "configs" / "prometheus" / "alerts.yml"
# Our metrics and prometheus_client's process and platform collectors; "up" and other Prometheus-made
# series are not the node's to export.
METRIC_NAME = re.compile(r"(?<![\w\"])(?:bakong|process|python)_[A-Za-z0-9_]+")
# The sample names each kind of family exposes (prometheus_client's parser names a counter's family
# without its _total).
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",),
            "unknown": ("",)}


def dashboard_expressions(path: Path = DASHBOARD) -> list[str]:
    """Every PromQL expression of the dashboard: panel targets (rows' panels too) and variable queries."""
    doc = json.loads(path.read_text())

    def panels(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    exprs = [t["expr"] for p in panels(doc["panels"]) for t in p.get("targets", []) if t.get("expr")]
    for variable in doc["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict) and query.get("query"):
            exprs.append(query["query"])
    return exprs


def alert_expressions(path: Path = ALERTS) -> list[str]:
    doc = yaml.safe_load(path.read_text())
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def names_used(exprs: Iterable[str]) -> set[str]:
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)}


def exported_names(exposition: str) -> set[str]:
    """Every series name a Prometheus scraping this text could query, labelled families with no
    series yet included (their HELP/TYPE lines are exposed)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text: str = resp.read().decode()
    return text


def test_the_configs_name_metrics_and_a_misspelt_name_is_caught() -> None:
    """The negative control of the check below, without a node: a counter without its _total, a
    histogram without _bucket and a renamed gauge are not exported names."""
    dashboard, alerts = names_used(dashboard_expressions()), names_used(alert_expressions())
    assert len(dashboard) >= 25 and len(alerts) >= 15
    exposition = ("# HELP bakong_blocks_committed_total x\n# TYPE bakong_blocks_committed_total counter\n"
                  "bakong_blocks_committed_total 3.0\n"
                  "# HELP bakong_block_interval_seconds x\n# TYPE bakong_block_interval_seconds histogram\n"
                  "bakong_block_interval_seconds_bucket{le=\"+Inf\"} 1.0\nbakong_block_interval_seconds_count 1.0\n"
                  "bakong_block_interval_seconds_sum 0.5\n"
                  "# HELP bakong_block_age_seconds x\n# TYPE bakong_block_age_seconds gauge\nbakong_block_age_seconds 1.0\n")
    exported = exported_names(exposition)
    used = names_used(["rate(bakong_blocks_committed[1m])", "rate(bakong_block_interval_seconds[5m])",
                       "bakong_block_age > 3", "rate(bakong_blocks_committed_total[1m])",
                       "histogram_quantile(0.9, rate(bakong_block_interval_seconds_bucket[5m]))",
                       'up{job="bakong"} == 0'])
    assert used - exported == {"bakong_blocks_committed", "bakong_block_interval_seconds", "bakong_block_age"}


@pytest.mark.integration
def test_every_metric_the_dashboard_and_alert_rules_use_exists_on_a_running_node(single_node: RunningNet) -> None:
    client = single_node.client()
    deadline = time.monotonic() + 10
    while client.status()["height"] < 3:  # block interval, decision round and commit time observed
        assert time.monotonic() < deadline, "no blocks committed"
        time.sleep(0.1)
    client.tx_status("00" * 32)  # a timed request on a templated route
    scrape(client.url)  # the first scrape is itself timed: the second shows it
    text = scrape(client.url)
    exported = exported_names(text)

    for source, exprs in (("configs/grafana/bakong-dashboard.json", dashboard_expressions()),
                          ("configs/prometheus/alerts.yml", alert_expressions())):
        missing = sorted(names_used(exprs) - exported)
        assert not missing, f"{source} uses metrics this node does not export: {missing}"

    # The two metrics issue 16 found broken, and a few of the new ones, carry values a user would check.
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("bakong_block_commit_seconds_count", (("path", "consensus"),))] >= 3
    assert samples[("bakong_block_interval_seconds_count", ())] >= 3
    assert samples[("bakong_p2p_bytes_total", (("direction", "in"),))] == 0  # one node: no peers, no bytes
    assert not any(name == "bakong_p2p_total" for name, _labels in samples)
    assert samples[("bakong_validator_missed_votes_total", (("validator", "nbc"),))] == 0
    assert samples[("bakong_validators_reachable", ())] == samples[("bakong_validator_quorum", ())] == 1
    assert 0 <= samples[("bakong_block_age_seconds", ())] < 5
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert samples[("bakong_api_request_seconds_count", (("method", "GET"), ("route", "/metrics")))] >= 1
