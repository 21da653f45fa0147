"""Writes of the API app: making and revoking personal tokens."""

import hashlib
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from api import selectors
from api.models import ApiToken

TOKEN_PREFIX = "csm_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row and the token itself, which is never stored."""
    if not selectors.user_may_hold_tokens(user=user):
        raise PermissionDenied(
            _("API tokens are for organizers and analysts; expert accounts get none.")
        )
    name = name.strip()
    if not name:
        raise ValidationError(_("Give the token a name, e.g. “analysis notebook”."))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user, name=name[:100], prefix=token[:10], token_hash=token_hash(token)
    )
    return row, token


def api_token_revoke(*, token: ApiToken) -> bool:
    """Revoke the token (idempotent); True if it was active."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return True


def api_token_used(*, token: ApiToken) -> None:
    """Record a use, at most once a minute (a busy client does not write on every call)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
