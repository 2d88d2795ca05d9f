"""FastAPI dependencies as Annotated aliases: the container, the API key, the rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from livevault.bootstrap import Container
from livevault.errors import Forbidden, Unauthorized
from livevault.services.access import Principal, Scope
from livevault.services.viewing import SESSION_COOKIE

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="One of API_KEYS, or a key made with `livevault keys create`"
)


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def require_api_key(
    request: Request, key: Annotated[str | None, Depends(_api_key_header)] = None
) -> Principal:
    """A known key under its rate limit; sync, so FastAPI runs it (and its Redis round trip) in a thread.

    An address that sent too many invalid keys in the last minute gets 429 before its key is looked at."""
    container = get_container(request)
    address = request.client.host if request.client is not None else "unknown"
    container.rate_limits.check_client(address)
    try:
        principal = container.access.authenticate(key)
    except (Unauthorized, Forbidden):
        container.rate_limits.failed(address)
        raise
    container.rate_limits.check(principal.rate_key)
    request.state.principal = principal
    return principal


def require_key_or_session(
    request: Request, key: Annotated[str | None, Depends(_api_key_header)] = None
) -> Principal:
    """Reads a browser opens from the web pages (downloads, thumbnails, parts, the live playlist, /metrics):
    `X-API-Key`, or the web session cookie, so <video>, <img> and links work. A session is not rate limited per
    request (a player fetches a segment every few seconds); its key is authenticated again on every request."""
    if key:
        return require_api_key(request, key)
    container = get_container(request)
    principal = container.access.authenticate(container.sessions.api_key(request.cookies.get(SESSION_COOKIE)))
    request.state.principal = principal
    return principal


def key_or_signed_link(
    request: Request, key: Annotated[str | None, Depends(_api_key_header)] = None
) -> Principal | None:
    """An API key (or the web session cookie), or none at all when the request carries a link signature (the
    route checks it)."""
    if key is None and "signature" in request.query_params:
        return None
    return require_key_or_session(request, key)


def _scoped(needed: Scope) -> object:
    def dependency(principal: Annotated[Principal, Depends(require_api_key)]) -> Principal:
        principal.require(needed)
        return principal

    dependency.__name__ = f"require_{needed.value}_scope"
    return Depends(dependency)


ApiKeyDep = Annotated[Principal, Depends(require_api_key)]
"""Any valid key (the `read` scope)."""
RecordScopeDep = Annotated[Principal, _scoped(Scope.RECORD)]
"""A key that may start and stop recordings and manage watchers."""
AdminScopeDep = Annotated[Principal, _scoped(Scope.ADMIN)]
"""A key that may delete, pin and manage keys."""


SessionOrKeyDep = Annotated[Principal, Depends(require_key_or_session)]
"""Any valid key (the `read` scope), from the `X-API-Key` header or the web session cookie."""


KeyOrSignedLinkDep = Annotated[Principal | None, Depends(key_or_signed_link)]
"""Any valid key or web session, or None for a signed download link (`expires` + `signature` in the query)."""
