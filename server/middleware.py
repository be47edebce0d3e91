"""Pure ASGI middleware (cheap on the hot tile path): bearer-token auth and a body-size limit."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


async def _send_json(send: Callable, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        + (headers or []),
    })
    await send({"type": "http.response.body", "body": body})


class BearerAuth:
    """Every /v1 route needs ``Authorization: Bearer <token>`` (or ``?access_token=`` for map tiles)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/") or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
        if not given and scope.get("query_string"):
            qs = parse_qs(scope["query_string"].decode("latin-1"))
            given = (qs.get("access_token") or [""])[0].encode()
        if not given or not hmac.compare_digest(given, self.token):
            return await _send_json(send, 401, "missing or wrong bearer token (see the token the server printed)",
                                    [(b"www-authenticate", b"Bearer")])
        return await self.app(scope, receive, send)


class _TooLarge(BaseException):  # not Exception: body parsers must not swallow it
    pass


class BodyLimit:
    """Refuses request bodies above ``limit`` bytes with 413, whether or not they announce a length."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    return await _send_json(send, 400, "bad Content-Length header")
                if too_big:
                    return await _send_json(send, 413, f"request body is above this server's limit of {self.limit:,} bytes")
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, f"request body is above this server's limit of {self.limit:,} bytes")
