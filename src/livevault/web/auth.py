"""Who is looking at a page: the session cookie's key, authenticated again on every request; CSRF checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from livevault.errors import CrossSiteRequest, LivevaultError
from livevault.services.access import Principal, Scope
from livevault.services.viewing import SESSION_COOKIE, WebSession

if TYPE_CHECKING:
    from fastapi import Request, Response

    from livevault.bootstrap import Container

SIGNIN_PATH = "/ui/signin"


class SignInRequired(Exception):
    """No valid session: the handler answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    session: WebSession

    @property
    def can_record(self) -> bool:
        return self.principal.scope.allows(Scope.RECORD)

    @property
    def can_admin(self) -> bool:
        return self.principal.scope.allows(Scope.ADMIN)

    @property
    def read_only(self) -> bool:
        return not self.can_record


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def safe_next(path: str | None, default: str = "/") -> str:
    """A local path to go back to (never another site: `//evil` and `https://...` are refused)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return default
    return path


def signin_redirect_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{SIGNIN_PATH}?next={quote(safe_next(here), safe='')}"


def current_viewer(request: Request) -> Viewer:
    """The signed-in viewer, or SignInRequired."""
    container = container_of(request)
    session = container.sessions.open(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired(signin_redirect_url(request))
    try:
        principal = container.access.authenticate(session.api_key)
    except LivevaultError as exc:  # the key was removed or revoked since sign-in
        raise SignInRequired(signin_redirect_url(request)) from exc
    return Viewer(principal=principal, session=session)


def check_same_origin(request: Request) -> None:
    """A form post must come from this site's own pages (Origin, else Referer, must name this host)."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return  # no browser sends a cross-site form without Origin; the CSRF token still has to match
    if origin == "null" or urlsplit(origin).netloc != host:
        raise CrossSiteRequest("cross-site form post refused", details={"origin": origin[:200]})


def check_csrf(request: Request, viewer: Viewer, token: str | None) -> None:
    check_same_origin(request)
    if not viewer.session.csrf_ok(token):
        raise CrossSiteRequest("the form's CSRF token is missing or wrong; reload the page and try again")


def set_session_cookie(request: Request, response: Response, value: str, max_age: int, *, secure: bool) -> None:
    response.set_cookie(SESSION_COOKIE, value, max_age=max_age, httponly=True, samesite="strict", path="/",
                        secure=secure or request.url.scheme == "https")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
