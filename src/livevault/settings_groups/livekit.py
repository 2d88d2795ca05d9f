"""LiveKit room recording settings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from livevault.settings_groups.fields import _env


class LiveKitSettings(BaseModel):
    """The LiveKit server that records rooms (egress into the S3 bucket)."""

    # LiveKit room recording (egress into the S3 bucket)
    livekit_host: str = Field("", validation_alias=_env("LIVEKIT_HOST", "LIVEKIT_URL", "livekit_host"))
    livekit_api_key: str = Field("", validation_alias=_env("LIVEKIT_API_KEY", "livekit_api_key"))
    livekit_api_secret: str = Field(
        "", validation_alias=_env("LIVEKIT_API_SECRET", "livekit_api_secret"), repr=False
    )
    livekit_output_template: str = Field(
        "recordings/{room}/{timestamp}.{ext}",
        validation_alias=_env("LIVEKIT_OUTPUT_TEMPLATE", "livekit_output_template"),
    )
    livekit_reconcile_interval: float = Field(
        30.0, gt=0, le=3600, validation_alias=_env("LIVEKIT_RECONCILE_INTERVAL", "livekit_reconcile_interval")
    )
