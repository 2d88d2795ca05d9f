"""FastAPI dependencies as Annotated aliases: the container, the API key, the rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from livevault.bootstrap import Container
from livevault.services.access import Principal, Scope

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of API_KEYS")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def require_api_key(
    request: Request, key: Annotated[str | None, Depends(_api_key_header)] = None
) -> Principal:
    """A known key under its rate limit; sync, so FastAPI runs it (and its Redis round trip) in a thread."""
    container = get_container(request)
    principal = container.access.authenticate(key)
    container.rate_limits.check(principal.rate_key)
    request.state.principal = principal
    return principal


def key_or_signed_link(
    request: Request, key: Annotated[str | None, Depends(_api_key_header)] = None
) -> Principal | None:
    """An API key, or none at all when the request carries a link signature (the route checks it)."""
    if key is None and "signature" in request.query_params:
        return None
    return require_api_key(request, key)


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
KeyOrSignedLinkDep = Annotated[Principal | None, Depends(key_or_signed_link)]
"""Any valid key, or None for a signed download link (`expires` + `signature` in the query)."""
