"""Who is asking: the client address that the throttles count by."""

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, or behind our own proxy (BEHIND_PROXY) the address it saw.

    The proxy appends the address it saw to X-Forwarded-For, so the right-most entry is
    the one to trust: entries to its left come from the client and can be forged.
    """
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "") or "unknown"
