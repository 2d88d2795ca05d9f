"""HLS AES-128 (RFC 8216 §5.2): AES-CBC with PKCS7 padding, the key fetched once per key URI."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from livevault.errors import DecryptionFailed

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

BLOCK = 16
_KEYS_KEPT = 16


def sequence_iv(sequence: int) -> bytes:
    """The IV of a segment without an IV attribute: its media sequence number, 16 bytes big-endian."""
    return (sequence & ((1 << 128) - 1)).to_bytes(BLOCK, "big")


def decrypt_aes128(data: bytes, key: bytes, iv: bytes) -> bytes:
    """AES-128-CBC decrypt and PKCS7-unpad a whole segment.

    Raises:
        DecryptionFailed: wrong key or IV size, a body that is not whole blocks, or bad padding.
    """
    if len(key) != BLOCK:
        raise DecryptionFailed(f"an AES-128 key has 16 bytes, this one has {len(key)}")
    if len(iv) != BLOCK:
        raise DecryptionFailed(f"an AES-128 IV has 16 bytes, this one has {len(iv)}")
    if not data or len(data) % BLOCK:
        raise DecryptionFailed(f"encrypted segment of {len(data)} bytes is not a whole number of blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(BLOCK * 8).unpadder()
    try:
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptionFailed("bad PKCS7 padding after decryption (wrong key or IV?)") from exc


class KeyCache:
    """Keys by URI (query string included), fetched once even when several segments ask at the same time."""

    def __init__(self, fetch: Callable[[str], Awaitable[bytes]]) -> None:
        self._fetch = fetch
        self._keys: OrderedDict[str, bytes] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, uri: str) -> bytes:
        key = self._keys.get(uri)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(uri)
            if key is None:
                key = await self._fetch(uri)
                if len(key) != BLOCK:
                    raise DecryptionFailed(f"the key at the key URI has {len(key)} bytes, not 16")
                self._keys[uri] = key
                while len(self._keys) > _KEYS_KEPT:
                    self._keys.popitem(last=False)
            return key

    def forget(self, uri: str) -> None:
        """Drop a key that failed to decrypt, so the next try fetches it again."""
        self._keys.pop(uri, None)
