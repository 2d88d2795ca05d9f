"""A livevault process for the crash test: builds its container, hands a finished recording of SIZE bytes to
the storage service (which uploads it), prints `{"id", "md5"}` and waits to be killed.

    python -m tests.integration.upload_child DATA_DIR SIZE '{"s3_bucket": ..., ...}'
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from livevault.bootstrap import build_container
from tests.conftest import make_settings
from tests.integration.storage_helpers import finished_recording


async def main(data_dir: Path, size: int, overrides: dict[str, object]) -> None:
    container = build_container(make_settings(data_dir, **overrides))
    await container.start(scheduler=False)
    recording_id, md5 = await asyncio.to_thread(
        finished_recording, container, size, options={"upload_s3": True}, thumbnail=False
    )
    print(json.dumps({"id": recording_id, "md5": md5}), flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])))
