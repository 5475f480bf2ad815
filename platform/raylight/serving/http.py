"""The endpoint's HTTP rules, shared by every replica: error shapes, body limit, bearer token.

Every refusal is a 4xx (or a 503 with Retry-After) with a JSON body `{"error": ...}`; nothing a
client sends produces a 500. The guard is plain ASGI rather than FastAPI middleware: it runs on
every request, and Starlette's BaseHTTPMiddleware would add a task and a copy per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import raylight
from raylight.serving.predictor import BadRecordError, NonFiniteOutputError

OPEN_PATHS = frozenset({"/healthz"})  # probes (Kubernetes, load balancers) carry no token


def token_digest(token: str) -> str:
    """What a replica keeps of the token: its sha256; the token never leaves the driver."""
    return hashlib.sha256(token.encode()).hexdigest()


class Guard:
    """ASGI middleware: 401 without the bearer token (when one is set), 413 over the body limit."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, token_sha256: str | None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.token_sha256 = token_sha256

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        local_path = path[len(root) :] if root and path.startswith(root) else path
        if self.token_sha256 and local_path not in OPEN_PATHS and not self._authorized(headers):
            await _send_json(
                send,
                401,
                {"error": "missing or wrong bearer token (Authorization: Bearer <token>)"},
                [(b"www-authenticate", b"Bearer")],
            )
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _send_json(send, 413, _too_large(self.max_body_bytes))
            return
        received = 0
        started = refused = False

        async def counted_receive() -> Message:
            # Past the limit the client gets its 413 now, and the app sees a disconnect
            # (raising here would reach FastAPI's body parser, which turns errors into 400).
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes and not refused:
                refused = True
                if not started:
                    await _send_json(send, 413, _too_large(self.max_body_bytes))
                return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is already the answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted_receive, tracked_send)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        presented = token_digest(token.strip()) if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(presented, self.token_sha256 or "")


def _too_large(limit: int) -> dict[str, Any]:
    return {"error": f"request body exceeds serve.max_body_bytes ({limit} bytes)"}


async def _send_json(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def make_api(name: str, *, max_body_bytes: int, token_sha256: str | None) -> FastAPI:
    """FastAPI app with the guard and JSON error handlers; routes are added by the deployment."""
    api = FastAPI(title=f"{name} (Raylight)", version=raylight.__version__)
    api.add_middleware(Guard, max_body_bytes=max_body_bytes, token_sha256=token_sha256)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # The offending input is not echoed back: it may be huge, or NaN (not valid JSON).
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()
        ]
        is_json_error = any(d["type"] == "json_invalid" for d in details)
        return JSONResponse(
            status_code=400 if is_json_error else 422,
            content=jsonable_encoder(
                {
                    "error": "body is not valid JSON" if is_json_error else "invalid request",
                    "detail": details,
                }
            ),
        )

    @api.exception_handler(BadRecordError)
    @api.exception_handler(NonFiniteOutputError)
    async def non_finite(request: Request, error: ValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": str(error)})

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            status_code=error.status_code,
            content={"error": str(error.detail)},
            headers=getattr(error, "headers", None),
        )

    return api
