"""Start-up checks and preparation from Settings: the URL guard's trusted hosts, the webhook targets (each
through the guard), and the data directories."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from livevault.errors import InvalidInput, LivevaultError

if TYPE_CHECKING:
    from livevault.config import Settings
    from livevault.net.guard import UrlGuard


def trusted_hosts(settings: Settings) -> list[str]:
    """LIVEVAULT_TRUSTED_HOSTS and the S3 endpoint's host: the operator's own object store (often MinIO on a
    private network) serves the presigned reads of bucket sources through the capture client."""
    hosts = list(settings.trusted_hosts)
    if settings.s3_endpoint:
        endpoint_host = urlsplit(settings.s3_endpoint).hostname
        if endpoint_host:
            hosts.append(endpoint_host)
    return hosts


def notify_targets(settings: Settings, guard: UrlGuard) -> list[str]:
    """LIVEVAULT_WEBHOOK_URLS, each through the URL guard: a refused target stops start-up."""
    targets = []
    for url in settings.webhook_urls:
        try:
            targets.append(guard.check_url(url))
        except LivevaultError as exc:
            raise InvalidInput(f"LIVEVAULT_WEBHOOK_URLS: {exc.message}",
                               details={"error_code": exc.code, **exc.details}) from exc
    return targets


def prepare_storage(settings: Settings) -> None:
    for path in (settings.data_dir, settings.recordings_dir, settings.spool_dir):
        path.mkdir(parents=True, exist_ok=True)
