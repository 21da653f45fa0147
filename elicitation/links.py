"""Magic links: a django-sesame token scoped to one invitation, so a link opens one
expert's form for one round of one survey and nothing else."""

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from sesame.utils import get_token

from elicitation.models import Invitation


def invitation_scope(invitation: Invitation) -> str:
    """The token's scope: this invitation, at its current link version (revoking a link
    raises the version, so every earlier token stops validating)."""
    if invitation.link_version == 1:
        return f"invitation:{invitation.id}"  # the scope of links sent before versions
    return f"invitation:{invitation.id}:v{invitation.link_version}"


def invitation_magic_link(*, invitation: Invitation) -> str:
    """The absolute personal link sent to the invited expert."""
    token = get_token(invitation.expert.user, scope=invitation_scope(invitation))
    path = reverse("elicitation:expert-entry", args=[invitation.id])
    return f"{settings.SITE_URL}{path}?{urlencode({settings.SESAME_TOKEN_NAME: token})}"
