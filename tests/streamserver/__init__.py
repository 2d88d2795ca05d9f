"""The live test stream server for the test-suite (see :mod:`livevault.testsrc`)."""

from livevault.testsrc import (
    COUNTER_MODULO,
    FaultRecord,
    LiveStream,
    MediaCache,
    ProducedSegment,
    ProgressiveConnection,
    RequestRecord,
    ServedSegment,
    StreamConfig,
    StreamServer,
    describe_urls,
    read_frame_number,
    run_testsrc,
)

__all__ = [
    "COUNTER_MODULO",
    "FaultRecord",
    "LiveStream",
    "MediaCache",
    "ProducedSegment",
    "ProgressiveConnection",
    "RequestRecord",
    "ServedSegment",
    "StreamConfig",
    "StreamServer",
    "describe_urls",
    "read_frame_number",
    "run_testsrc",
]
