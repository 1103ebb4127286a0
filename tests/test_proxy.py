"""Proxies: HTTP(S)_PROXY / NO_PROXY from the environment, the ``proxy`` option, and secrecy.

A tiny forward proxy on 127.0.0.1 takes absolute-form requests (``GET
http://127.0.0.1:PORT/...``) and passes them on to FakeNanoGPT, so a test can
see which requests went through it.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import socket
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web

from nanogpt_images import ImageModelsSession
from nanogpt_images._cli import main
from nanogpt_images._errors import TransportError
from nanogpt_images._transport import Transport

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from nanogpt_images.testing import FakeNanoGPT

KEY = "sk-nano-proxy-test-key-0123456789"
PASSWORD = "pr0xy-pa55word-f00"


class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1: logs each request, then fetches it itself."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ForwardProxy:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._client = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        assert self._client is not None
        await self._client.close()
        await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        assert self._client is not None
        assert request.raw_path.startswith("http://"), "a proxy gets absolute-form requests"
        skip = {"host", "proxy-authorization", "proxy-connection", "connection"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
        async with self._client.get(request.raw_path, headers=headers) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k in ("ETag", "Content-Type")}
            return web.Response(status=answer.status, body=body, headers=kept)


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as forward:
        yield forward


@pytest.fixture
async def make(fake: FakeNanoGPT) -> AsyncIterator[Callable[..., Transport]]:
    """Transports aimed at ``fake``, closed after the test."""
    made: list[Transport] = []

    def build(**options: Any) -> Transport:
        options.setdefault("api_key", KEY)
        options.setdefault("base_url", fake.url)
        made.append(Transport(**options))
        return made[-1]

    yield build
    for transport in made:
        await transport.close()


async def test_http_proxy_from_the_environment_carries_the_request(
    fake: FakeNanoGPT, proxy: ForwardProxy, make: Callable[..., Transport], monkeypatch
) -> None:
    """With HTTP_PROXY set, the catalog is fetched through that proxy, key and all."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    result = await make().fetch()
    assert json.loads(result.body or b"")["data"]
    assert [r.raw_path for r in proxy.requests] == [f"{fake.url}/api/v1/image-models?detailed=true"]
    assert fake.request_count == 1
    assert fake.requests[0].headers["authorization"] == "***"  # the key got there


async def test_trust_env_false_ignores_the_environment(
    fake: FakeNanoGPT, proxy: ForwardProxy, make: Callable[..., Transport], monkeypatch
) -> None:
    """trust_env=False goes straight to the server, whatever HTTP_PROXY says."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    await make(trust_env=False).fetch()
    assert proxy.requests == []
    assert fake.request_count == 1


@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [
        ("127.0.0.1", False),
        ("*", False),
        ("localhost, 127.0.0.1", False),
        (".0.0.1", False),
        ("example.com,10.0.0.1", True),
    ],
)
async def test_no_proxy_is_honoured(
    fake: FakeNanoGPT,
    proxy: ForwardProxy,
    make: Callable[..., Transport],
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
    proxied: bool,
) -> None:
    """A host that NO_PROXY names (or a domain it ends in, or ``*``) is fetched directly."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    await make().fetch()
    assert len(proxy.requests) == (1 if proxied else 0)
    assert fake.request_count == 1


async def test_the_proxy_option_wins_and_sends_its_credentials(
    fake: FakeNanoGPT, proxy: ForwardProxy, make: Callable[..., Transport], monkeypatch
) -> None:
    """proxy= with user:password@ is used over the environment and authenticates to the proxy."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would fail if it were used
    with_login = proxy.url.replace("http://", f"http://user:{PASSWORD}@")
    await make(proxy=with_login, trust_env=False).fetch()
    await make(proxy=with_login).fetch()
    assert len(proxy.requests) == 2
    login = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
    assert {r.headers["Proxy-Authorization"] for r in proxy.requests} == {f"Basic {login}"}
    assert fake.request_count == 2


async def test_a_borrowed_session_follows_its_own_trust_env(
    fake: FakeNanoGPT, proxy: ForwardProxy, make: Callable[..., Transport], monkeypatch
) -> None:
    """The environment is the borrowed session's business: its trust_env=False goes direct."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with aiohttp.ClientSession() as borrowed:
        await make(http_session=borrowed).fetch()
    assert proxy.requests == []
    assert fake.request_count == 1


async def test_a_proxy_that_is_down_is_named_without_its_password(
    make: Callable[..., Transport], caplog: pytest.LogCaptureFixture
) -> None:
    """A refused proxy is a TransportError saying it was the proxy; the password is nowhere."""
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = make(proxy=f"http://user:{PASSWORD}@127.0.0.1:{port}", max_retries=0)
    with pytest.raises(TransportError) as info:
        await transport.fetch()
    assert str(info.value).endswith(f"connection refused by the proxy at 127.0.0.1:{port}")
    texts = [str(info.value), repr(info.value), repr(transport), caplog.text]
    cause = info.value.__cause__
    texts += [str(cause), repr(cause), *(repr(v) for v in vars(cause or Exception()).values())]
    assert not [text for text in texts if PASSWORD in text or KEY in text]


@pytest.mark.parametrize(
    "value",
    [
        f"socks5://user:{PASSWORD}@127.0.0.1:1080",
        "proxy.example:3128",
        "http://",
        f"http://user:{PASSWORD}@[::1",
        f"http://user:{PASSWORD}@127.0.0.1:0",
    ],
)
def test_a_bad_proxy_is_refused_without_quoting_it(value: str) -> None:
    """proxy= must be an http(s) URL with a host; the error never repeats it (a password?)."""
    with pytest.raises(ValueError, match="proxy must be an http:// or https:// URL") as info:
        Transport(api_key=None, base_url="https://nano-gpt.com", proxy=value)
    assert PASSWORD not in str(info.value)
    assert "http://user:password@proxy.example:3128" in str(info.value)


def test_a_proxy_that_is_not_text_is_a_type_error() -> None:
    """proxy=3128 is a TypeError naming the option."""
    with pytest.raises(TypeError, match="proxy must be a string or None"):
        Transport(api_key=None, base_url="https://nano-gpt.com", proxy=3128)  # type: ignore[arg-type]


def test_a_bad_proxy_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY that is not a URL fails at construction naming it and trust_env=False."""
    monkeypatch.setenv("HTTPS_PROXY", f"user:{PASSWORD}@proxy")
    with pytest.raises(ValueError, match="HTTPS_PROXY in the environment must be") as info:
        Transport(api_key=None, base_url="https://nano-gpt.com")
    assert "pass trust_env=False to ignore the environment" in str(info.value)
    assert PASSWORD not in str(info.value)
    Transport(api_key=None, base_url="https://nano-gpt.com", trust_env=False)


@pytest.mark.skipif(
    "proxy" not in inspect.signature(ImageModelsSession).parameters,
    reason="ImageModelsSession does not take proxy= yet (the session wiring lands separately)",
)
async def test_the_cli_proxy_option_carries_the_request(
    fake: FakeNanoGPT, proxy: ForwardProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """``nanogpt-images --proxy URL models`` fetches the catalog through that proxy."""
    argv = ["--base-url", fake.url, "--proxy", proxy.url, "models", "--json"]
    code = await asyncio.to_thread(main, argv)
    assert code == 0
    assert json.loads(capsys.readouterr().out)
    assert len(proxy.requests) == 1
    assert fake.request_count == 1
