"""Who is asking: the client address that the throttles count by."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind our own proxy (BEHIND_PROXY) the address it saw; None when
    the request has neither (a request built in code, as ``force_login`` makes one).

    The proxy appends the address it saw to X-Forwarded-For, so the right-most entry is
    the one to trust: entries to its left come from the client and can be forged.
    """
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if _is_address(forwarded):
            return forwarded
    address = request.META.get("REMOTE_ADDR")
    return address if _is_address(address) else None


def _is_address(value: str | None) -> bool:
    try:
        ipaddress.ip_address(value or "")
    except ValueError:
        return False
    return True
