"""URL rules: what a base URL may be, origins for redirects, and which proxy a request takes.

Pure functions of strings and the environment; the transport applies them.
Every refusal is a ``ValueError`` saying what was wrong and what would be right.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, unquote, urlsplit
from urllib.request import getproxies_environment

from ._options import check_str

__all__ = [
    "check_base_url",
    "check_proxy",
    "env_proxies",
    "explicit_port",
    "is_loopback",
    "no_proxy_covers",
    "origin",
    "proxy_password",
]


def check_base_url(base_url: str, api_key: str | None, allow_insecure_http: bool) -> None:
    """An http(s) site root with a valid host and port; a key goes over http only to loopback."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"base_url must be an http(s) URL such as 'https://nano-gpt.com', not {base_url!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError("base_url must not contain credentials; pass api_key instead")
    if "?" in base_url or "#" in base_url:  # urlsplit forgets an empty "?" or "#"
        raise ValueError(
            f"base_url must not have a query or fragment ('?' or '#'): {base_url!r}; "
            "give the site root, such as 'https://nano-gpt.com'"
        )
    try:
        explicit_port(parts)
    except ValueError:
        raise ValueError(
            f"base_url has an invalid port: {base_url!r}; a port is a number from 1 to 65535"
        ) from None
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise ValueError(
            f"base_url has an invalid host name: {base_url!r}; each dot-separated part of a "
            "host name has 1 to 63 characters"
        ) from None
    if (
        api_key is not None
        and parts.scheme == "http"
        and not is_loopback(parts.hostname)
        and not allow_insecure_http
    ):
        raise ValueError(
            f"refusing to send an API key over plain http to {parts.hostname}; "
            "use an https:// base_url, or pass allow_insecure_http=True if you really mean it"
        )


def check_proxy(proxy: str | None, name: str = "proxy", advice: str = "") -> None:
    """``proxy`` is an http(s) URL with a host; never quoted, since it may hold a password."""
    check_str(name, proxy, none=True)
    if proxy is None:
        return
    try:
        parts = urlsplit(proxy)
        explicit_port(parts)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{name} must be an http:// or https:// URL with a host (and a port from 1 to "
            "65535, if any), such as 'http://proxy.example:3128' or "
            f"'http://user:password@proxy.example:3128'{advice}"
        )


def env_proxies() -> dict[str, str]:
    """The proxies of ``HTTP_PROXY`` and ``HTTPS_PROXY`` (either case), and ``NO_PROXY``."""
    found = getproxies_environment()
    proxies = {scheme: found[scheme] for scheme in ("http", "https") if found.get(scheme)}
    for scheme, url in proxies.items():
        advice = "; fix it, or pass trust_env=False to ignore the environment"
        check_proxy(url, f"{scheme.upper()}_PROXY in the environment", advice)
    if found.get("no"):
        proxies["no"] = found["no"]
    return proxies


def proxy_password(proxy: str | None) -> str | None:
    """The password of a proxy URL (percent-decoded, as it is sent)."""
    password = urlsplit(proxy).password if proxy is not None else None
    return unquote(password) if password else None


def no_proxy_covers(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (``*``, or names and domain suffixes, commas between) covers ``host``.

    The rules of the standard library and curl: ``example.com`` and
    ``.example.com`` both cover ``example.com`` and every name below it.
    """
    names = [name.strip().lstrip(".").lower() for name in no_proxy.split(",")]
    host = host.lower()
    return any(name == "*" or host == name or host.endswith("." + name) for name in names if name)


def is_loopback(host: str) -> bool:
    """``localhost``, a name under it, or a loopback address."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)``; ValueError for a port that is not 1-65535."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = explicit_port(parts)
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def explicit_port(parts: SplitResult) -> int | None:
    """The URL's explicit port, or None; ValueError when it is not a number from 1 to 65535."""
    port = parts.port  # urllib checks the port (0-65535) only when it is read
    if port == 0:
        raise ValueError("port 0 is not a port one can connect to")
    return port
