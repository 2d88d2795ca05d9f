"""Receive buffers of the lean GET (`capture.lean`): a per-thread scratch buffer for what the HTTP parser reads,
and body buffers created without the zero fill that `bytearray(n)` adds."""

from __future__ import annotations

import ctypes
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

SCRATCH_BYTES = 64 * 1024  # where headers (and bodies of unknown length) are received, before parsing
_scratch = threading.local()


def _unfilled_bytearray() -> Callable[[None, int], bytearray] | None:
    """CPython's constructor of a bytearray without the zero fill that bytearray(n) adds (None elsewhere)."""
    try:
        prototype = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t)
        return prototype(("PyByteArray_FromStringAndSize", ctypes.pythonapi))
    except (AttributeError, OSError):
        return None


_bytearray_of_size = _unfilled_bytearray()


def body_buffer(size: int) -> bytearray:
    """A buffer for a body of `size` bytes. Its contents are undefined until received into; a body is handed
    on only once every byte of it has been received, so nothing it held before is ever read."""
    if _bytearray_of_size is None:
        return bytearray(size)
    buffer: bytearray = _bytearray_of_size(None, size)
    return buffer


def scratch_buffer() -> memoryview:
    """This thread's receive buffer for what the parser reads. A read is handed to the parser in the same
    callback that received it, so every connection of an event loop can share one."""
    view: memoryview | None = getattr(_scratch, "view", None)
    if view is None:
        view = _scratch.view = memoryview(bytearray(SCRATCH_BYTES))
    return view
