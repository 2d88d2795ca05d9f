"""The frame counter and the encoders."""

from __future__ import annotations

import av
import numpy as np
import pytest

from livevault.testsrc import COUNTER_MODULO, read_frame_number
from livevault.testsrc.media import (
    AAC_FRAME,
    Rendition,
    audio_frames,
    audio_track,
    avc_config,
    codecs_string,
    draw_frame,
    encode_video,
    frames_per_segment,
    length_prefixed,
    read_counter,
    split_nals,
)


@pytest.mark.parametrize("number", [0, 1, 2, 255, 12_345, COUNTER_MODULO - 1])
@pytest.mark.parametrize(("width", "height"), [(320, 240), (160, 120), (192, 108), (64, 48)])
def test_counter_round_trip_on_raw_pictures(number: int, width: int, height: int) -> None:
    picture = draw_frame(number, width, height)
    assert picture.shape == (height * 3 // 2, width)
    assert read_counter(picture[:height]) == number


def test_counter_wraps_at_20_bits() -> None:
    assert read_counter(draw_frame(COUNTER_MODULO + 7, 320, 240)[:240]) == 7


@pytest.mark.parametrize(("width", "height"), [(320, 240), (160, 120), (384, 216), (192, 108)])
def test_counter_survives_h264(width: int, height: int) -> None:
    video = encode_video(Rendition(width, height, 24, 12), 3)
    decoder = av.CodecContext.create("h264", "r")
    read: list[int | None] = []
    for unit in video.access_units:
        read += [read_frame_number(frame) for frame in decoder.decode(av.Packet(unit))]
    read += [read_frame_number(frame) for frame in decoder.decode(None)]
    assert read == list(range(36, 48))


def test_counter_reads_converted_frames() -> None:
    rgb = av.VideoFrame.from_ndarray(draw_frame(4242, 320, 240), format="yuv420p").reformat(format="rgb24")
    assert read_frame_number(rgb) == 4242


def test_pictures_without_a_counter_read_as_none() -> None:
    rng = np.random.default_rng(1)
    gray = np.full((240, 320), 128, np.uint8)
    noise = rng.integers(0, 256, (240, 320), dtype=np.uint8)
    assert read_counter(gray) is None
    assert read_counter(noise) is None
    damaged = draw_frame(1000, 320, 240)[:240].copy()
    damaged[0:20, 0:27] = 255 - damaged[0:20, 0:27]  # flip one bit: the check bits catch it
    assert read_counter(damaged) is None


def test_every_segment_starts_with_an_idr_and_carries_parameter_sets() -> None:
    video = encode_video(Rendition(160, 120, 24, 12), 0)
    kinds = [nal[0] & 0x1F for nal in split_nals(video.access_units[0])]
    assert 5 in kinds
    assert 7 in kinds
    assert 8 in kinds
    assert all(5 not in [nal[0] & 0x1F for nal in split_nals(unit)] for unit in video.access_units[1:])
    assert video.first_frame == 0
    assert video.nbytes > 0
    assert codecs_string(video.sps).startswith("avc1.42")
    assert avc_config(video.sps, video.pps)[0] == 1
    sample = length_prefixed(video.access_units[0])
    assert int.from_bytes(sample[:4], "big") + 4 <= len(sample)
    assert all(nal[0] & 0x1F not in {7, 8, 9} for nal in _length_prefixed_nals(sample))


def _length_prefixed_nals(sample: bytes) -> list[bytes]:
    nals, pos = [], 0
    while pos < len(sample):
        size = int.from_bytes(sample[pos : pos + 4], "big")
        nals.append(sample[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return nals


def test_audio_frames_tile_the_timeline() -> None:
    rendition = Rendition(320, 240, 24, 12)
    covered = [frame for index in range(10) for frame in audio_frames(rendition, index)]
    assert covered == list(range(len(covered)))
    assert abs(len(covered) * AAC_FRAME - 10 * rendition.segment_samples) < AAC_FRAME
    track = audio_track()
    assert track.config[:2] == bytes([0x11, 0x90])  # AAC-LC, 48 kHz, stereo
    decoder = av.CodecContext.create("aac", "r")
    decoder.extradata = track.config
    samples = [frame for _ in range(8) for frame in decoder.decode(av.Packet(track.packet))]
    assert sum(frame.samples for frame in samples) == 8 * AAC_FRAME


def test_segment_duration_must_be_whole_frames() -> None:
    assert frames_per_segment(0.5, 24) == 12
    assert frames_per_segment(2.0, 25) == 50
    with pytest.raises(ValueError):
        frames_per_segment(0.5, 25)
    with pytest.raises(ValueError):
        Rendition(322, 240, 24, 12)
    with pytest.raises(ValueError):
        Rendition(320, 240, 7, 12)
