"""The panel: experts, their contacts and codes."""

import re
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from elicitation.models import Expert, ExpertContact, Survey


def expert_create(
    *,
    survey: Survey,
    name: str,
    email: str,
    language: str = Expert.Language.EN,
    attributes: dict[str, str] | None = None,
    code: str | None = None,
    time_zone: str | None = None,
) -> Expert:
    """An expert, their contact and the password-less user that carries their link tokens.

    At the strict anonymity level the code is always drawn at random (a code the organizer
    chose, or one given in upload order, would let them pair it with the name). Identified
    surveys show names beside codes anyway: there the code is the one given, else the
    next E-number.
    """
    if survey.is_strict:
        code = expert_random_code(survey=survey)
    elif not code:
        code = expert_next_code(survey=survey)
    expert = Expert(
        survey=survey,
        language=language,
        attributes=attributes or {},
        code=code,
        time_zone=time_zone or settings.TIME_ZONE,
    )
    contact = ExpertContact(survey=survey, name=name.strip(), email=email.strip().lower())
    if survey.contacts.filter(email=contact.email).exists():
        raise ValidationError(
            {
                "email": _(
                    "%(email)s is already on this survey's panel: each expert joins it once. "
                    "To ask them into a round, invite them there."
                )
                % {"email": contact.email}
            }
        )
    expert.full_clean(exclude=["user"])
    contact.full_clean(exclude=["expert"])
    with transaction.atomic():
        expert.user = _expert_user_create()
        expert.save()
        contact.expert = expert
        contact.save()
    return expert


def _expert_user_create():
    # No email, no name: the user list must pair nobody with a code (strict anonymity).
    user = get_user_model()(username=f"expert-{secrets.token_hex(8)}")
    user.set_unusable_password()
    user.save()
    return user


def expert_next_code(*, survey: Survey, offset: int = 0) -> str:
    """E001, E002, ...: one past the highest E-number used in the survey (plus ``offset``)."""
    numbers = [
        int(match.group(1))
        for code in survey.experts.values_list("code", flat=True)
        if (match := re.fullmatch(r"E(\d+)", code))
    ]
    return f"E{max(numbers, default=0) + 1 + offset:03d}"


def expert_random_code(*, survey: Survey, taken: set[str] | None = None) -> str:
    """A code such as E48213, drawn at random among those this survey does not use."""
    used = set(survey.experts.values_list("code", flat=True)) | (taken or set())
    while True:
        code = f"E{secrets.randbelow(90_000) + 10_000}"
        if code not in used:
            return code
