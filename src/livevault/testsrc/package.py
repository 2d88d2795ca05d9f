"""The cached products of the test source: encoded segments and their TS, fMP4, FLV and AES forms.

Every product is a :class:`~livevault.testsrc.cache.Job` keyed only by what its bytes depend on
(rendition, global index, timing, padding, key), so streams with equal settings share them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from livevault.testsrc import flv, fmp4, tsmux
from livevault.testsrc.cache import Job
from livevault.testsrc.media import audio_track, encode_video

if TYPE_CHECKING:
    from livevault.testsrc.cache import MediaCache
    from livevault.testsrc.media import EncodedVideo, Rendition
    from livevault.testsrc.tsmux import SegmentTiming


def encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """AES-128-CBC with PKCS7 padding, as HLS METHOD=AES-128 wants."""
    padder = PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


class Packager:
    """Builds (or finds) the bytes of every product through one shared :class:`MediaCache`."""

    def __init__(self, cache: MediaCache) -> None:
        self.cache = cache

    def video(self, rendition: Rendition, index: int) -> Job[EncodedVideo]:
        return Job(("video", rendition, index), lambda: encode_video(rendition, index))

    def ts(self, rendition: Rendition, timing: SegmentTiming, target_bytes: int = 0) -> Job[bytes]:
        """A TS segment, padded with null packets to at least ``target_bytes``."""
        if target_bytes > 0:
            plain = self.ts(rendition, timing)
            return Job(
                ("ts", rendition, timing, target_bytes),
                lambda: tsmux.pad(self.cache.get(plain), target_bytes),
            )
        video = self.video(rendition, timing.index)
        return Job(
            ("ts", rendition, timing, 0),
            lambda: tsmux.mux_segment(self.cache.get(video), audio_track(), timing),
        )

    def encrypted_ts(
        self, rendition: Rendition, timing: SegmentTiming, target_bytes: int, key: bytes, iv: bytes
    ) -> Job[bytes]:
        plain = self.ts(rendition, timing, target_bytes)
        return Job(
            ("aes", rendition, timing, target_bytes, key, iv),
            lambda: encrypt(self.cache.get(plain), key, iv),
        )

    def init(self, rendition: Rendition) -> Job[bytes]:
        video = self.video(rendition, 0)
        return Job(("init", rendition), lambda: fmp4.init_segment(self.cache.get(video), audio_track()))

    def fragment(self, rendition: Rendition, timing: SegmentTiming) -> Job[bytes]:
        video = self.video(rendition, timing.index)
        return Job(
            ("m4s", rendition, timing),
            lambda: fmp4.media_segment(self.cache.get(video), audio_track(), timing, timing.index + 1),
        )

    def flv_tags(self, rendition: Rendition, timing: SegmentTiming) -> Job[bytes]:
        video = self.video(rendition, timing.index)
        return Job(("flv", rendition, timing), lambda: flv.segment_tags(self.cache.get(video), audio_track(), timing))

    def flv_config(self, rendition: Rendition, timing: SegmentTiming, with_header: bool) -> Job[bytes]:
        """Sequence headers for a (re)configuration at ``timing``; with the file header first if asked."""
        video = self.video(rendition, timing.index)

        def build() -> bytes:
            encoded = self.cache.get(video)
            head = flv.file_header() + flv.metadata(encoded) if with_header else b""
            return head + flv.sequence_headers(encoded, audio_track(), flv.header_millis(timing, encoded))

        return Job(("flv-config", rendition, timing, with_header), build)
