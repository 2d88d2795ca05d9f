"""The watchers page: the list, adding one, and pause / resume / delete."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from livevault.domain.watcher import WatcherStatus
from livevault.errors import InvalidInput
from livevault.services.access import Scope
from livevault.web.auth import Viewer, container_of, current_viewer
from livevault.web.forms import watch_request
from livevault.web.pages_common import PAGE_SIZE, action, back_to, render

router = APIRouter(include_in_schema=False)


@router.get("/ui/watchers")
async def watchers_page(request: Request) -> Response:
    viewer = current_viewer(request)
    container = container_of(request)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    found = await asyncio.to_thread(container.watchers.search, page=page, page_size=PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE))
    return render(request, "watchers.html", viewer, watchers=found.items, total=found.total, page=page,
                  pages=pages, sources=container.sources.names,
                  default_interval=int(container.settings.watcher_default_interval),
                  min_interval=container.settings.watcher_min_interval, back=request.url.path)


@router.post("/ui/watchers")
async def add_watcher(request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, str]) -> Response:
        container = container_of(request)
        container.watchers.create(watch_request(container, form))
        return back_to(request, form, "/ui/watchers", "watcher-added")

    return await action(request, Scope.RECORD, work)


@router.post("/ui/watchers/change")
async def change_watcher(request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, str]) -> Response:
        watchers = container_of(request).watchers
        key, what = form.get("key", ""), form.get("do", "")
        if what == "pause":
            watchers.update(key, status=WatcherStatus.PAUSED)
        elif what == "resume":
            watchers.update(key, status=WatcherStatus.ACTIVE)
        elif what == "delete":
            watchers.delete(key)
        else:
            raise InvalidInput("unknown watcher action", details={"do": what[:16]})
        return back_to(request, form, "/ui/watchers", {"pause": "watcher-paused", "resume": "watcher-resumed",
                                                       "delete": "watcher-deleted"}[what])

    return await action(request, Scope.RECORD, work)
