"""Every error code belongs to one class, and a stored code turns back into its class."""

from __future__ import annotations

import pytest

from livevault import errors
from livevault.domain.capture import CaptureOutcome, EndReason
from livevault.errors import (
    LiveOffline,
    LivevaultError,
    LoginRequired,
    NetworkTimeout,
    NotFound,
    NothingRecorded,
    SourceBlocked,
    StreamStalled,
    error_class,
)
from livevault.services.recording.finalize import _nothing


def all_classes() -> list[type[LivevaultError]]:
    found: list[type[LivevaultError]] = []
    pending: list[type[LivevaultError]] = [LivevaultError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_a_code_turns_back_into_its_class() -> None:
    assert error_class("STREAM_STALLED") is StreamStalled
    assert error_class("LIVE_OFFLINE") is LiveOffline
    assert error_class("NOT_FOUND") is NotFound, "the most general of the classes sharing a code"
    assert error_class("NO_SUCH_CODE") is None
    assert error_class(None) is None


def test_every_code_in_errors_is_listed_in_the_tree() -> None:
    tree = errors.__doc__ or ""
    for cls in all_classes():
        if cls.__module__ == errors.__name__ or cls.__module__.startswith(f"{errors.__name__}."):
            assert cls.__name__ in tree, f"{cls.__name__} is missing from the tree in livevault/errors/__init__.py"


@pytest.mark.parametrize("cls", [StreamStalled, NetworkTimeout, SourceBlocked, LoginRequired, LiveOffline])
def test_nothing_recorded_keeps_the_cause_as_the_code(cls: type[LivevaultError]) -> None:
    error = _nothing(CaptureOutcome(EndReason.ERROR, cls.code, "what happened"))
    assert type(error) is cls
    assert error.message == "nothing was recorded: what happened"
    assert error.details == {"nothing_recorded": True, "end_reason": "error"}


def test_nothing_recorded_without_a_cause_is_nothing_recorded() -> None:
    error = _nothing(CaptureOutcome(EndReason.END_OF_STREAM))
    assert type(error) is NothingRecorded
    assert error.details["nothing_recorded"] is True
    unknown = _nothing(CaptureOutcome(EndReason.ERROR, "SOMETHING_NEW", "odd"))
    assert type(unknown) is NothingRecorded
    assert unknown.details["cause_code"] == "SOMETHING_NEW"
