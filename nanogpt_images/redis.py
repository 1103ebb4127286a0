"""Fleet mode on Redis: many replicas share one catalog (``pip install 'nanogpt-images[redis]'``).

>>> from nanogpt_images.redis import RedisCoordinator
>>> coordinator = RedisCoordinator("redis://localhost:6379/0")  # doctest: +SKIP
>>> session = ImageModelsSession(coordinator=coordinator)  # doctest: +SKIP

This is the only module that imports redis-py.  Each session's keys share
one hash tag (``{...}``), so the Lua scripts also run on Redis Cluster:

- ``<namespace>:{<scope digest>}:copy``: a hash with the body, its
  validators, its version and when it was fetched (on Redis's clock);
- ``...:lease``: the fetch lease, ``SET NX PX`` with a random token;
- ``...:backoff``: the fleet's backoff after failed fetches;
- ``...:news``: the pub/sub channel told of every write.

The scope digest covers the catalog URL and ``detailed``; no API key is
ever written.  Every call is bounded by ``op_timeout``.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import urllib.parse
from typing import TYPE_CHECKING, Any

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError as exc:  # pragma: no cover - tested in a subprocess without redis
    raise ImportError(
        "nanogpt_images.redis needs redis-py: pip install 'nanogpt-images[redis]'"
    ) from exc

from ._coordinator import SharedBody, SharedState
from ._options import check_seconds, check_str

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

__all__ = ["RedisCoordinator"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# A key of ours holding another type (someone else's SET, a bad migration) counts as absent
# and is replaced by the next write, never an error that reads like Redis being down.
_HASH_OR_GONE = """
local function hash_or_gone(key)
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'hash' and kind ~= 'none' then redis.call('DEL', key) end
end
"""

# KEYS: copy, backoff -> version, fetched, scope, etag, lm, size, now, until, error, failures
_STATE = (
    _NOW
    + _HASH_OR_GONE
    + """
hash_or_gone(KEYS[1])
hash_or_gone(KEYS[2])
local c = redis.call('HMGET', KEYS[1], 'version', 'fetched', 'scope', 'etag', 'lm')
local b = redis.call('HMGET', KEYS[2], 'until', 'error', 'failures')
return {c[1], c[2], c[3], c[4], c[5], redis.call('HSTRLEN', KEYS[1], 'body'), now, b[1], b[2], b[3]}
"""
)

# KEYS: copy -> version, body, fetched, scope, etag, lm, now
_LOAD = (
    _NOW
    + _HASH_OR_GONE
    + """
hash_or_gone(KEYS[1])
local c = redis.call('HMGET', KEYS[1], 'version', 'body', 'fetched', 'scope', 'etag', 'lm')
return {c[1], c[2], c[3], c[4], c[5], c[6], now}
"""
)

# KEYS: copy, lease, backoff; ARGV: token ('' = only if empty), based_on, body, etag, lm,
# scope, version suffix, age in ms, channel -> the new version, or false when refused.
_COMMIT = (
    _HASH_OR_GONE
    + """
hash_or_gone(KEYS[1])
hash_or_gone(KEYS[3])
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if current then return false end
else
  if redis.call('TYPE', KEYS[2]).ok ~= 'string' then return false end
  if redis.call('GET', KEYS[2]) ~= ARGV[1] then return false end
  if (current or '') ~= ARGV[2] then return false end
end
"""
    + _NOW
    + """
local version = redis.call('HINCRBY', KEYS[1], 'seq', 1) .. '-' .. ARGV[7]
redis.call('HSET', KEYS[1], 'version', version, 'body', ARGV[3], 'etag', ARGV[4],
  'lm', ARGV[5], 'scope', ARGV[6], 'fetched', now - tonumber(ARGV[8]))
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[9], version)
return version
"""
)

# KEYS: copy, lease, backoff; ARGV: token, based_on, etag, lm, channel -> 1 renewed, 0 refused
_RENEW = """
if redis.call('TYPE', KEYS[2]).ok ~= 'string' or redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
if redis.call('TYPE', KEYS[3]).ok ~= 'none' and redis.call('TYPE', KEYS[3]).ok ~= 'hash' then
  redis.call('DEL', KEYS[3])
end
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'fetched', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'etag', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'lm', ARGV[4]) end
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[5], ARGV[2])
return 1
"""

# KEYS: lease, backoff; ARGV: token, delay ms, failures, error, keep ms, channel
_BACK_OFF = (
    """
if redis.call('TYPE', KEYS[1]).ok ~= 'string' or redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
"""
    + _NOW
    + _HASH_OR_GONE
    + """
hash_or_gone(KEYS[2])
redis.call('HSET', KEYS[2], 'until', now + tonumber(ARGV[2]), 'failures', ARGV[3],
  'error', ARGV[4])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + tonumber(ARGV[5]))
redis.call('PUBLISH', ARGV[6], 'backoff')
return 1
"""
)

# KEYS: lease; ARGV: token
_RELEASE = """
if redis.call('TYPE', KEYS[1]).ok == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lease; ARGV: token, ms -> 1 taken, 0 held by another replica. A lease that can never
# expire (no TTL) or is not a string was not written by a replica: it is taken over.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('PTTL', KEYS[1]) == -1 or redis.call('TYPE', KEYS[1]).ok ~= 'string' then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

#: The failure count outlives a backoff by this long, so the next failure doubles the wait.
_KEEP_FAILURES_MS = 3_600_000


class RedisCoordinator:
    """A :class:`~nanogpt_images.Coordinator` on Redis, through redis-py's asyncio client.

    ``client_or_url`` is a ``redis://``/``rediss://``/``unix://`` URL (the
    coordinator then owns its client, with socket timeouts of ``op_timeout``
    and no retries, and closes it) or a ``redis.asyncio.Redis`` you made (not
    closed by us).  ``namespace`` prefixes every key.  Every Redis call gives
    up after ``op_timeout`` seconds, so a frozen Redis is noticed at once;
    with no news, the shared version is checked every ``check_interval``
    seconds; a session that lost Redis tries again every ``probe_interval``
    seconds.  A shared body over ``max_body_bytes`` is ignored.
    """

    def __init__(
        self,
        client_or_url: str | aioredis.Redis,
        *,
        namespace: str = "nanogpt_images",
        op_timeout: float = 0.5,
        check_interval: float = 0.5,
        probe_interval: float = 2.0,
        max_body_bytes: int = 32 * 2**20,
    ) -> None:
        check_str("namespace", namespace)
        if not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(
                f"namespace must be a non-empty string without braces (the hash tag is "
                f"added for you), not {namespace!r}"
            )
        check_seconds("op_timeout", op_timeout)
        check_seconds("check_interval", check_interval)
        check_seconds("probe_interval", probe_interval)
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise TypeError(f"max_body_bytes must be a whole number, not {max_body_bytes!r}")
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be 1 or more, not {max_body_bytes!r}")
        if isinstance(client_or_url, str):
            scheme = urllib.parse.urlsplit(client_or_url).scheme
            if scheme not in ("redis", "rediss", "unix"):
                raise ValueError(
                    "client_or_url must be a redis://, rediss:// or unix:// URL or a "
                    f"redis.asyncio.Redis client, not a {scheme or 'schemeless'} URL"
                )
            self._client = aioredis.from_url(
                client_or_url,
                socket_timeout=op_timeout,
                socket_connect_timeout=op_timeout,
                # One retry, at once: a pooled connection from before a Redis restart fails
                # once; ``op_timeout`` still bounds the call with its retry.
                retry=Retry(NoBackoff(), 1),
            )
            self._owned = True
            self._where = _redact(client_or_url)
        elif isinstance(client_or_url, aioredis.Redis):
            self._client = client_or_url
            self._owned = False
            self._where = "a borrowed client"
        else:
            raise TypeError(
                "client_or_url must be a redis:// URL or a redis.asyncio.Redis client, "
                f"not {type(client_or_url).__name__}"
            )
        self.namespace = namespace
        self.op_timeout = op_timeout
        self.check_interval = check_interval
        self.probe_interval = probe_interval
        self.max_body_bytes = max_body_bytes
        self._scope: str | None = None
        self._keys: tuple[str, str, str] = ("", "", "")
        self._channel = ""
        self._scripts = {
            name: self._client.register_script(source)
            for name, source in (
                ("state", _STATE),
                ("load", _LOAD),
                ("commit", _COMMIT),
                ("renew", _RENEW),
                ("back_off", _BACK_OFF),
                ("release", _RELEASE),
                ("acquire", _ACQUIRE),
            )
        }

    def __repr__(self) -> str:
        return f"RedisCoordinator({self._where}, namespace={self.namespace!r})"

    def bind(self, scope: str) -> None:
        """Use the keys of ``scope``; a coordinator serves one session's scope only."""
        if self._scope is not None and self._scope != scope:
            raise ValueError(
                f"this RedisCoordinator already serves {self._scope}; "
                "give each session its own RedisCoordinator"
            )
        self._scope = scope
        digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
        prefix = f"{self.namespace}:{{{digest}}}"
        self._keys = (f"{prefix}:copy", f"{prefix}:lease", f"{prefix}:backoff")
        self._channel = f"{prefix}:news"

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys and the channel this coordinator uses (after ``bind``)."""
        return (*self._keys, self._channel)

    async def state(self) -> SharedState:
        copy, _, backoff = self._keys
        raw = await self._run("state", [copy, backoff], [])
        version, fetched, scope, etag, lm, size, now, until, error, failures = raw
        return SharedState(
            version=_text(version),
            age=_age(now, fetched),
            size=int(size),
            scope=_text(scope),
            etag=_text(etag) or None,
            last_modified=_text(lm) or None,
            backoff=max((int(until) - int(now)) / 1000, 0.0) if until is not None else 0.0,
            error=_text(error),
            failures=int(failures) if failures is not None else 0,
        )

    async def load(self) -> SharedBody | None:
        raw = await self._run("load", [self._keys[0]], [])
        version, body, fetched, scope, etag, lm, now = raw
        if version is None or body is None:
            return None
        return SharedBody(
            version=_text(version) or "",
            body=body.encode() if isinstance(body, str) else bytes(body),
            age=_age(now, fetched),
            scope=_text(scope),
            etag=_text(etag) or None,
            last_modified=_text(lm) or None,
        )

    async def acquire(self, seconds: float) -> str | None:
        token = secrets.token_hex(16)
        taken = await self._run("acquire", [self._keys[1]], [token, max(int(seconds * 1000), 1)])
        return token if taken else None

    async def release(self, token: str) -> None:
        await self._run("release", [self._keys[1]], [token])

    async def commit(
        self,
        token: str | None,
        based_on: str | None,
        body: bytes,
        *,
        etag: str | None,
        last_modified: str | None,
        age: float = 0.0,
    ) -> str | None:
        args = [
            token or "",
            based_on or "",
            body,
            etag or "",
            last_modified or "",
            self._scope or "",
            secrets.token_hex(4),
            max(int(age * 1000), 0),
            self._channel,
        ]
        version = await self._run("commit", list(self._keys), args)
        return _text(version)

    async def renew(
        self, token: str, based_on: str, *, etag: str | None, last_modified: str | None
    ) -> bool:
        args = [token, based_on, etag or "", last_modified or "", self._channel]
        return bool(await self._run("renew", list(self._keys), args))

    async def back_off(self, token: str, seconds: float, *, failures: int, error: str) -> None:
        args = [token, int(seconds * 1000), failures, error, _KEEP_FAILURES_MS, self._channel]
        await self._run("back_off", [self._keys[1], self._keys[2]], args)

    async def watch(self) -> AsyncGenerator[bool, None]:
        pubsub = self._client.pubsub()
        try:
            async with asyncio.timeout(self.op_timeout):
                await pubsub.subscribe(self._channel)
            while True:
                # A read timeout of our own: a long-lived listener must not trip over the
                # connection's socket timeout (redis-py #4098).
                message = await pubsub.get_message(timeout=self.check_interval)
                yield message is not None
        finally:
            async with asyncio.timeout(self.op_timeout):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._owned:
            await self._client.aclose()

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        async with asyncio.timeout(self.op_timeout):
            return await self._scripts[script](keys=keys, args=args)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return bytes(value).decode("utf-8", errors="replace")


def _age(now: Any, fetched: Any) -> float:
    if fetched is None:
        return 0.0
    return max((int(now) - int(float(fetched))) / 1000, 0.0)


def _redact(url: str) -> str:
    """The URL without its user and password."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
