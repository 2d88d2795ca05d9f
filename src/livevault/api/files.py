"""File responses that keep their bytes: the file is opened when the response is made, not when it is sent.

A part being watched live is removed by the finalize, and a local MP4 by a verified upload; with a plain
`FileResponse` the file is stat'ed, the headers (Content-Length, Content-Range) are sent and only then the file is
opened, so a removal in between breaks the transfer half-way. Here the file is opened first and its size taken
from the open descriptor: once a response exists, every byte it announced is sent, whatever happens to the path.
"""

from __future__ import annotations

import os
import stat
import weakref
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from fastapi.responses import FileResponse

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from starlette.types import Receive, Scope, Send

_PATHSEND = "http.response.pathsend"  # sends by path, which would reopen it: not used here


class OpenedFileResponse(FileResponse):
    """Raises FileNotFoundError (or IsADirectoryError) at once when there is no such regular file."""

    def __init__(self, path: Path, *, media_type: str, filename: str | None = None) -> None:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._close = weakref.finalize(self, os.close, fd)
        self._fd = fd
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            self._close()
            raise IsADirectoryError(f"not a regular file: {path.name}")
        super().__init__(path, media_type=media_type, filename=filename, stat_result=info)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != _PATHSEND}
        try:
            await super().__call__({**scope, "extensions": extensions}, receive, send)
        finally:
            self._close()

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        # Starlette opens the file through this hook for every body it sends (whole file or ranges).
        file = anyio.wrap_file(os.fdopen(os.dup(self._fd), "rb"))
        try:
            yield file
        finally:
            with anyio.CancelScope(shield=True):
                await file.aclose()
