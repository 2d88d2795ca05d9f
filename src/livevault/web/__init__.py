"""Web pages for people, served by the API process itself at `/` (an entrypoint, like `api`).

Server-rendered Jinja2 templates and a little vanilla JavaScript, no build step; every asset (hls.js for the
live view, Swagger UI and ReDoc for `/docs` and `/redoc`) ships in `static/vendor/` with its licence. Pages call
services through the container and never import adapters. A person signs in once with an API key; the key
lives in an encrypted session cookie (`services.viewing.sessions`) and forms carry a CSRF token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livevault.web.docs import install_docs
from livevault.web.pages import STATIC_DIR, install_pages

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["STATIC_DIR", "install"]


def install(app: FastAPI) -> None:
    """Add the pages, their static assets and the offline `/docs` and `/redoc` to `app`."""
    install_pages(app)
    install_docs(app)
