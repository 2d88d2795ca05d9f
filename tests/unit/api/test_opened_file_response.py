"""A download keeps every byte it announced even when its file is removed after the response was made."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from livevault.api.files import OpenedFileResponse

if TYPE_CHECKING:
    from pathlib import Path

BODY = bytes(range(256)) * 4096  # 1 MiB, more than one chunk


def _app(path: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/file")
    def serve() -> OpenedFileResponse:
        response = OpenedFileResponse(path, media_type="video/mp2t", filename=path.name)
        path.unlink()  # the finalize (or a verified upload) removes it before a byte is sent
        return response

    return app


@pytest.mark.parametrize(("headers", "status", "expected"), [
    ({}, 200, BODY),
    ({"Range": "bytes=1000-299999"}, 206, BODY[1000:300000]),
    ({"Range": "bytes=-10"}, 206, BODY[-10:]),
])
def test_the_whole_body_arrives_after_the_file_is_removed(tmp_path: Path, headers: dict[str, str], status: int,
                                                          expected: bytes) -> None:
    path = tmp_path / "part-0001.ts"
    path.write_bytes(BODY)
    with TestClient(_app(path)) as client:
        response = client.get("/file", headers=headers)
    assert response.status_code == status
    assert int(response.headers["content-length"]) == len(expected)
    assert response.content == expected
    assert not path.exists()


def test_a_missing_file_is_known_before_any_header_is_sent(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        OpenedFileResponse(tmp_path / "gone.mp4", media_type="video/mp4")
    with pytest.raises(IsADirectoryError):
        OpenedFileResponse(tmp_path, media_type="video/mp4")
