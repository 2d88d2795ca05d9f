"""Epochs: how discontinuities, init changes and sequence resets renumber and re-stamp segments."""

from __future__ import annotations

import pytest

from livevault.testsrc.timeline import INITIAL_BASE, TIMESTAMP_JUMP, EpochCause, Timeline

TICKS = 45_000  # 0.5 s


def test_a_fresh_timeline_is_one_epoch() -> None:
    timeline = Timeline(TICKS)
    epoch = timeline.epoch_of(7)
    assert (epoch.number, epoch.sequence_of(7), epoch.discontinuity_sequence) == (0, 7, 0)
    assert epoch.timing(7).base == INITIAL_BASE
    assert epoch.timing(7).relative == 7
    assert timeline.group_start(7) == 0


def test_discontinuity_keeps_sequence_and_jumps_timestamps() -> None:
    timeline = Timeline(TICKS)
    epoch = timeline.change(5, EpochCause.DISCONTINUITY)
    assert (epoch.number, epoch.start, epoch.sequence, epoch.discontinuity_sequence) == (1, 5, 5, 1)
    assert epoch.discontinuity
    assert not epoch.reset
    assert epoch.base == INITIAL_BASE + 5 * TICKS + TIMESTAMP_JUMP
    assert timeline.epoch_of(4).number == 0
    assert timeline.epoch_of(9).sequence_of(9) == 9
    assert timeline.group_start(9) == 0


def test_sequence_reset_restarts_numbering_and_the_window() -> None:
    timeline = Timeline(TICKS)
    timeline.change(3, EpochCause.DISCONTINUITY)
    epoch = timeline.change(6, EpochCause.SEQUENCE_RESET)
    assert (epoch.sequence, epoch.discontinuity_sequence, epoch.base, epoch.init_id) == (0, 0, INITIAL_BASE, 1)
    assert epoch.reset
    assert not epoch.discontinuity
    assert timeline.epoch_of(8).sequence_of(8) == 2
    assert timeline.group_start(8) == 6
    assert timeline.group_start(5) == 0


def test_init_change_toggles_resolution_and_init() -> None:
    timeline = Timeline(TICKS)
    first = timeline.change(2, EpochCause.INIT_CHANGE)
    second = timeline.change(4, EpochCause.INIT_CHANGE)
    assert (first.alt, first.init_id, first.discontinuity) == (True, 1, True)
    assert (second.alt, second.init_id, second.discontinuity_sequence) == (False, 2, 2)


def test_changes_at_the_same_segment_merge() -> None:
    timeline = Timeline(TICKS)
    timeline.change(4, EpochCause.DISCONTINUITY)
    merged = timeline.change(4, EpochCause.INIT_CHANGE)
    assert len(timeline.epochs) == 2
    assert merged.discontinuity_sequence == 1
    assert merged.alt
    assert merged.init_id == 1
    assert merged.causes == (EpochCause.DISCONTINUITY, EpochCause.INIT_CHANGE)
    with pytest.raises(ValueError):
        timeline.change(3, EpochCause.DISCONTINUITY)
