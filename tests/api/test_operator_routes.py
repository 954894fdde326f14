"""Operator routes behind loopback or a token, HTTPS from the config, and what /v1/status, /v1/chain and
/readyz tell (issue 16, points 1, 3 and 5), on a real in-process node served by the node's own
listener (``node.api.listener.listen``), with real LevelDB and a throwaway certificate."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from consensus.crypto import KeyPair
from node.api.app import build_app
from node.api.listener import TlsConfigError, api_runner, listen, tls_context
from node.api.operator import is_loopback
from node.assembly import Node, announce_role
from node.config import NodeConfig, load_config
from node.keyfile import write_key
from node.tools.testnet import init_testnet
from tests.api.tls import client_context, self_signed
from tests.integration.conftest import free_port

TOKEN = "t0ken-for-the-operators-only"
OPERATOR = ["/v1/status", "/metrics", "/v1/evidence"]
PUBLIC = ["/healthz", "/v1/chain"]


def node_config(tmp_path: Path, **api: Any) -> NodeConfig:
    nodes = init_testnet(tmp_path / "net", validators=1, observers=0, base_port=free_port(), p2p_base_port=free_port())
    config = load_config(nodes[0].config)
    return dataclasses.replace(config, api=dataclasses.replace(config.api, port=free_port(), **api))


class Served:
    def __init__(self, config: NodeConfig, client_tls: Any = None) -> None:
        self.config, self.client_tls = config, client_tls
        scheme = "https" if config.api.tls_cert else "http"
        self.base = f"{scheme}://127.0.0.1:{config.api.port}"

    async def __aenter__(self) -> Served:
        self.node = Node(self.config)
        self.node.connect()  # network built, not started: no peers, nothing commits
        self.runner = api_runner(build_app(self.node), self.config.api)
        await self.runner.setup()
        self.server = await listen(self.runner, self.config.api, lambda reason: None)
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.client_tls or False))
        return self

    async def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.get(self.base + path, headers=headers) as resp:
            body = await resp.json(content_type=None) if "json" in resp.content_type else await resp.text()
            return resp.status, body

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()
        self.server.close()
        await self.runner.cleanup()
        self.node.close()


def remote_only_token(tmp_path: Path) -> Served:
    """A node that treats even loopback clients as remote (as behind a proxy), with a token and TLS."""
    cert, key = self_signed(tmp_path / "tls")
    config = node_config(tmp_path, operator_loopback=False, operator_token=TOKEN, tls_cert=cert, tls_key=key)
    return Served(config, client_context(cert))


def test_operator_routes_need_the_token_over_https_and_public_routes_do_not(tmp_path: Path) -> None:
    asyncio.run(_token_over_https(remote_only_token(tmp_path)))


async def _token_over_https(served: Served) -> None:
    async with served:
        for path in OPERATOR:
            status, body = await served.get(path)
            assert status == 401 and body["error"]["code"] == "operator_only", (path, body)
            status, body = await served.get(path, token="wrong-token-of-the-same-len")
            assert status == 401, path
            status, _ = await served.get(path, token=TOKEN)
            assert status == 200, path
        for path in PUBLIC:
            assert (await served.get(path))[0] == 200, path
        status, chain = await served.get("/v1/chain")
        assert chain["chain_id"] == served.node.chain_id and chain["version"]
        status, ready = await served.get("/readyz")
        assert status in (200, 503) and {c["name"] for c in ready["checks"]} >= {"commits", "quorum", "storage"}


def test_plain_http_to_the_https_port_gets_no_answer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with remote_only_token(tmp_path) as served:
            plain = served.base.replace("https://", "http://")
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.ClientError):
                    async with session.get(plain + "/healthz") as resp:
                        await resp.read()
    asyncio.run(scenario())


def test_loopback_clients_reach_operator_routes_by_default_and_others_are_told_why(tmp_path: Path) -> None:
    asyncio.run(_loopback(tmp_path))


async def _loopback(tmp_path: Path) -> None:
    async with Served(node_config(tmp_path)) as served:
        assert served.config.api.operator_loopback and served.config.api.operator_token is None
        for path in OPERATOR:
            assert (await served.get(path))[0] == 200, path
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("::1%lo")
    assert not is_loopback("10.0.0.1") and not is_loopback("fe80::1%eth0") and not is_loopback(None)
    assert not is_loopback("") and not is_loopback("localhost") and not is_loopback("/run/bakong.sock")
    config = node_config(tmp_path / "no-loopback", operator_loopback=False)
    async with Served(config) as served:
        status, body = await served.get("/v1/status")
        assert status == 403 and body["error"]["code"] == "operator_only"


def test_status_says_version_role_in_chain_latest_block_readiness_and_signing(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, Any]:
        async with Served(node_config(tmp_path)) as served:
            return await served.get("/v1/status")
    status, doc = asyncio.run(scenario())
    assert status == 200
    assert doc["version"] and doc["chain_role"] == "validator" and doc["role"] == "validator"
    assert doc["latest_block_ms"] > 0 and doc["latest_block_age_ms"] >= 0
    assert doc["catching_up"] is False and isinstance(doc["ready"], bool)
    assert doc["signing"] == {"allowed": True, "code": None, "reason": None, "accepted_restored": 0}


def test_a_validator_whose_key_is_not_in_the_set_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    asyncio.run(_stranger(tmp_path))
    assert "configured as a validator, but the chain names key" in caplog.text


async def _stranger(tmp_path: Path) -> None:
    config = node_config(tmp_path)
    stranger = tmp_path / "stranger.key"
    write_key(stranger, KeyPair.generate())
    config = dataclasses.replace(config, key_path=stranger)
    async with Served(config) as served:
        status, doc = await served.get("/v1/status")
        assert doc["chain_role"] == "not_a_peer" and doc["role"] == "validator"
        status, ready = await served.get("/readyz")
        assert status == 503 and "validator_set" in ready["failing"]
        announce_role(served.node)


def test_a_certificate_that_does_not_load_is_a_config_error(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "tls")
    other_cert, _ = self_signed(tmp_path / "other")
    config = node_config(tmp_path, tls_cert=other_cert, tls_key=key)  # key of another certificate
    with pytest.raises(TlsConfigError):
        tls_context(config.api)
    assert tls_context(dataclasses.replace(config.api, tls_cert=cert)) is not None

