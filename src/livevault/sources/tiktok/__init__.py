"""Native TikTok LIVE source (research/tiktok.md): room ids, users, LIVE / profile / share URLs, short links.

Modules: `targets` (input parsing, the matcher), `api` (HTTP calls), `payloads` (JSON → Room),
`streams` (candidates and choice of format, codec, quality), `markers` (failure markers → errors),
`cookies` (cookies files from LIVEVAULT_SECRETS_DIR), `budget` (the per-process request budget),
`batch` (batched `check_alive` for watchers), `source` (TikTokSource). User guide: docs/sources.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livevault.sources.tiktok.source import BROWSER_USER_AGENT, TikTokConfig, TikTokSource

if TYPE_CHECKING:
    import aiohttp

    from livevault.config import Settings

__all__ = ["TikTokConfig", "TikTokSource", "config_from_settings", "create"]


def config_from_settings(settings: Settings) -> TikTokConfig:
    """LIVEVAULT_USER_AGENT is used when it was set; otherwise a browser one (TikTok walls off other agents)."""
    default_agent = type(settings).model_fields["user_agent"].default
    agent = settings.user_agent if settings.user_agent != default_agent else BROWSER_USER_AGENT
    return TikTokConfig(
        web_url=settings.tiktok_web_url, webcast_url=settings.tiktok_webcast_url, timeout=settings.http_timeout,
        requests_per_min=settings.tiktok_requests_per_min, prefer_h265=settings.tiktok_prefer_h265,
        secrets_dir=settings.secrets_dir, user_agent=agent, batch_size=settings.watcher_batch_size,
    )


def create(settings: Settings, http: aiohttp.ClientSession) -> TikTokSource:
    return TikTokSource(http, config_from_settings(settings))
