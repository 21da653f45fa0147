"""Throttling of magic-link entry: invalid tokens are counted per client address.

A valid link always opens (its token is checked before the throttle), so nobody's
guesses can lock an expert out of their own link; past ``LINK_FAILURE_LIMIT`` invalid
tokens in ``LINK_FAILURE_WINDOW_SECONDS`` from one address, further invalid ones are
answered with a 429 page instead of the usual refusal, and one log line says so. The
counters live in Django's cache (the database by default, Redis in production), which
every web process shares.
"""

import logging

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from config.client import client_address

logger = logging.getLogger(__name__)


def _key(request: HttpRequest) -> str:
    return f"link-failures:{client_address(request) or 'unknown'}"


def link_failure_record(*, request: HttpRequest, invitation_id: int) -> int:
    """Count one invalid token from this client; returns the count in the window."""
    key = _key(request)
    cache.add(key, 0, timeout=settings.LINK_FAILURE_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LINK_FAILURE_WINDOW_SECONDS)
        count = 1
    if count == settings.LINK_FAILURE_LIMIT + 1:
        logger.warning(
            "Magic links throttled for %s: %d invalid tokens within %d s (last for invitation %d).",
            client_address(request),
            count,
            settings.LINK_FAILURE_WINDOW_SECONDS,
            invitation_id,
        )
    return count


def link_failures_exceeded(*, request: HttpRequest) -> bool:
    return (cache.get(_key(request)) or 0) > settings.LINK_FAILURE_LIMIT


def is_magic_link_attempt(request: HttpRequest, credentials: dict | None = None) -> bool:
    """AXES_WHITELIST_CALLABLE: django-sesame authenticates links through Django's
    ``authenticate`` too, but links are throttled here, where a valid one always opens;
    django-axes counts only password logins."""
    return "sesame" in (credentials or {})
