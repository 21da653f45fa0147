"""Magic links: a django-sesame token scoped to one invitation, so a link opens one
expert's form for one round of one survey and nothing else."""

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from sesame.utils import get_token

from elicitation.models import Invitation


def invitation_scope(invitation_id: int) -> str:
    return f"invitation:{invitation_id}"


def invitation_magic_link(*, invitation: Invitation) -> str:
    """The absolute personal link sent to the invited expert."""
    token = get_token(invitation.expert.user, scope=invitation_scope(invitation.id))
    path = reverse("elicitation:expert-entry", args=[invitation.id])
    return f"{settings.SITE_URL}{path}?{urlencode({settings.SESAME_TOKEN_NAME: token})}"
