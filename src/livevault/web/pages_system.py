"""Sign-in and sign-out, the system page, and the favicon."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from livevault.errors import ErrorKind, LivevaultError
from livevault.web.auth import (
    check_csrf,
    check_same_origin,
    clear_session_cookie,
    container_of,
    current_viewer,
    safe_next,
    set_session_cookie,
)
from livevault.web.pages_common import _STATUS, STATIC_DIR, error_page, form_of, render

router = APIRouter(include_in_schema=False)


# -- sign-in --------------------------------------------------------------------------------------------------


@router.get("/ui/signin")
async def signin_page(request: Request) -> Response:
    return render(request, "signin.html", None, next=safe_next(request.query_params.get("next")))


@router.post("/ui/signin")
async def signin(request: Request) -> Response:
    container = container_of(request)
    form = await form_of(request)
    next_path = safe_next(form.get("next"))
    try:
        check_same_origin(request)
        container.access.authenticate(form.get("api_key", "").strip())
    except LivevaultError as exc:
        return render(request, "signin.html", None, status_code=_STATUS.get(exc.kind, 403), next=next_path,
                      failed=exc.message if exc.kind is not ErrorKind.FORBIDDEN else "That API key is not valid.")
    value, _session = container.sessions.issue(form.get("api_key", "").strip())
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, value, container.sessions.max_age,
                       secure=container.settings.session_cookie_secure)
    return response


@router.post("/ui/signout")
async def signout(request: Request) -> Response:
    try:
        viewer = current_viewer(request)
        form = await form_of(request)
        check_csrf(request, viewer, form.get("csrf"))
    except LivevaultError as exc:
        return error_page(request, None, exc)
    response = RedirectResponse("/ui/signin?notice=signed-out", status_code=303)
    clear_session_cookie(response)
    return response


# -- system ------------------------------------------------------------------------------------------------------


@router.get("/ui/system")
async def system_page(request: Request) -> Response:
    viewer = current_viewer(request)
    overview = await asyncio.to_thread(container_of(request).overview.system)
    return render(request, "system.html", viewer, system=overview)


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for it on pages that name no icon (/metrics, a downloaded file): the same SVG."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")
