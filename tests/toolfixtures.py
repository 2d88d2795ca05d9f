"""External programs some tests need. Missing → the test is skipped, unless LIVEVAULT_REQUIRE_FFMPEG=1 (CI)
fails it: CI cannot pass by skipping."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture
def ffmpeg_binary() -> str:
    """The ffmpeg on PATH, or skip (fail under LIVEVAULT_REQUIRE_FFMPEG=1)."""
    found = shutil.which("ffmpeg")
    if found is None:
        reason = "no ffmpeg binary on PATH"
        if os.environ.get("LIVEVAULT_REQUIRE_FFMPEG") == "1":
            pytest.fail(f"{reason}; LIVEVAULT_REQUIRE_FFMPEG=1 requires it (apt-get install ffmpeg)", pytrace=False)
        pytest.skip(reason)
    return found
