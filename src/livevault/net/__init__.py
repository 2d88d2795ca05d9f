"""Outbound network policy: the one URL guard every fetch livevault makes passes through.

It sits below the adapters (sources, capture, storage, ...) and above config, so every adapter can use the
same guard without importing a sibling (capture and sources may not import each other).
"""

from livevault.domain.secrets import mask_secret_url
from livevault.net.guard import (
    ALLOWED_SCHEMES,
    GuardedResolver,
    UrlGuard,
    address_refusal,
    parse_host_address,
)

__all__ = [
    "ALLOWED_SCHEMES",
    "GuardedResolver",
    "UrlGuard",
    "address_refusal",
    "mask_secret_url",
    "parse_host_address",
]
