"""Plain ``OPTIONS`` requests (not CORS preflights, which ``CORSMiddleware`` answers): a 204
that lists the methods the catalog answers, for any path."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ALLOWED_METHODS", "AnswerOptions"]

ALLOWED_METHODS = "GET, HEAD, POST, OPTIONS"


class AnswerOptions:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            await Response(status_code=204, headers={"Allow": ALLOWED_METHODS})(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)
