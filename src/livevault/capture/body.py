"""A response body as a capture holds it: the chunks it arrived in (never joined), or a temporary file when it
is larger than `SPILL_BYTES`."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    import aiohttp

SPILL_BYTES = 8 * 1024 * 1024
"""Bodies larger than this go to a temporary file instead of memory."""


@dataclass(slots=True)
class Body:
    """A response body: in memory as the chunks it arrived in (never joined), or spilled to a temporary file."""

    parts: list[bytes | bytearray] = field(default_factory=list)
    path: Path | None = None
    size: int = 0
    head: bytes = b""

    @classmethod
    def of(cls, data: bytes) -> Body:
        return cls(parts=[data], size=len(data), head=data[:16])

    @classmethod
    def of_parts(cls, parts: list[bytes | bytearray], size: int) -> Body:
        head = bytes(parts[0][:16]) if parts and len(parts[0]) >= 16 else b"".join(parts)[:16]
        return cls(parts=parts, size=size, head=head)

    @property
    def data(self) -> bytes:
        """The in-memory body as one bytes object (empty when spilled)."""
        parts = self.parts
        if len(parts) == 1:
            return parts[0] if isinstance(parts[0], bytes) else bytes(parts[0])
        return b"".join(parts)

    def chunks(self, block: int = 1024 * 1024) -> Iterator[bytes | bytearray]:
        if self.path is None:
            yield from self.parts
            return
        with self.path.open("rb") as fh:
            while chunk := fh.read(block):
                yield chunk

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def _open_spill(directory: Path) -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    return tempfile.NamedTemporaryFile(dir=directory, prefix=".segment-", delete=False)


def _drop_spill(spill: Any) -> None:
    spill.close()
    Path(spill.name).unlink(missing_ok=True)


async def read_spilling(resp: aiohttp.ClientResponse, directory: Path) -> Body:
    chunks: list[bytes | bytearray] = []
    size = 0
    head = b""
    spill: Any = None
    content = resp.content
    try:
        while True:
            chunk, end_of_http_chunk = await content.readchunk()
            if not chunk:
                if end_of_http_chunk:
                    continue
                break
            if len(head) < 16:
                head = (head + chunk)[:16]
            if spill is None and size + len(chunk) > SPILL_BYTES:
                spill = _open_spill(directory)
                spill.writelines(chunks)
                chunks = []
            if spill is not None:
                spill.write(chunk)
            else:
                chunks.append(chunk)
            size += len(chunk)
    except BaseException:
        if spill is not None:
            _drop_spill(spill)
        raise
    if spill is None:
        return Body(parts=chunks, size=size, head=head)
    spill.close()
    return Body(path=Path(spill.name), size=size, head=head)
