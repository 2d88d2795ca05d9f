"""The pages: recordings, one recording, watching live, watchers, system, sign-in. Each calls one service.

The routes live in one module per use case (`pages_recordings`, `pages_watchers`, `pages_system`) with their
shared rendering in `pages_common`; this module gathers them into one router and installs it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from livevault.web import pages_recordings, pages_system, pages_watchers
from livevault.web.auth import SignInRequired
from livevault.web.pages_common import STATIC_DIR

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["STATIC_DIR", "install_pages", "router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
router.include_router(pages_system.router)
router.include_router(pages_recordings.router)
router.include_router(pages_watchers.router)


async def _signin_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if request.method != "GET":  # a post without a session: refuse it (a cross-site form lands here too)
        return HTMLResponse("Sign in first.", status_code=401)
    return RedirectResponse(exc.next_path, status_code=303)


def install_pages(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=str(STATIC_DIR)), name="ui-static")
    app.include_router(router)
    app.add_exception_handler(SignInRequired, _signin_redirect)
