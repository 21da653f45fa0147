"""Reads of the API app: who may hold tokens, a user's tokens, a request's token."""

import hashlib

from django.db.models import QuerySet
from django.http import Http404

from aggregation.selectors import ANALYST_GROUP
from api.models import ApiToken
from elicitation.models import Expert


def user_may_hold_tokens(*, user) -> bool:
    """Organizers (staff) and analysts; never an expert's account, never an inactive one."""
    if not user.is_authenticated or not user.is_active:
        return False
    if Expert.objects.filter(user_id=user.id).exists():
        return False
    return user.is_staff or user.groups.filter(name=ANALYST_GROUP).exists()


def api_tokens_for_user(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def api_token_get_for_user(*, user, token_id: int) -> ApiToken:
    token = api_tokens_for_user(user=user).filter(id=token_id).first()
    if token is None:
        raise Http404("No token of yours has this id.")
    return token


def api_token_authenticate(*, token: str) -> ApiToken | None:
    """The active token row for a presented token whose user may still hold tokens."""
    if not token or len(token) > 200:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=digest, revoked_at__isnull=True)
        .first()
    )
    if row is None or not user_may_hold_tokens(user=row.user):
        return None
    return row
