"""Personas and a small survey for the elicitation tests.

organizer       staff, organizes ``survey``
other_staff     staff, organizes nothing (must be refused ``survey``)
member          logged in, not staff (must be refused every organizer page)
expert          on ``survey``'s panel, holds ``invitation`` to ``open_round``
other_expert    on the same panel, holds ``other_invitation``
expert_of_other_survey   on ``other_survey``'s panel, holds ``foreign_invitation``
"""

import pytest
from django.contrib.auth import get_user_model

from elicitation import services
from elicitation.models import Invitation, Question
from tests.elicitation.helpers import client_with_link


@pytest.fixture
def organizer(db):
    return get_user_model().objects.create_user(
        "olivia", "olivia@example.org", "pw-olivia-123", is_staff=True
    )


@pytest.fixture
def other_staff(db):
    return get_user_model().objects.create_user(
        "oscar", "oscar@example.org", "pw-oscar-123", is_staff=True
    )


@pytest.fixture
def member(db):
    return get_user_model().objects.create_user("mallory", "mallory@example.org", "pw-m-123")


@pytest.fixture
def organizer_client(client, organizer):
    client.force_login(organizer)
    return client


@pytest.fixture
def survey(organizer):
    survey = services.survey_create(
        title="Allied contributions",
        background="Read **this** first.<script>alert(1)</script>",
        contact_email="panel@example.org",
        organizers=[organizer],
    )
    blockade = services.scenario_create(survey=survey, code="blockade", title="Blockade")
    services.question_create(
        survey=survey, code="Q01", text="Will Japan allow US basing?", scenario=blockade
    )
    services.question_create(
        survey=survey, code="Q02", text="Will Korea send ships?", scenario=blockade
    )
    services.question_create(
        survey=survey,
        code="N01",
        text="How many ships will Australia send?",
        kind=Question.Kind.NUMERIC,
        unit="ships",
        lower_bound=0,
        upper_bound=100,
    )
    return survey


@pytest.fixture
def questions(survey):
    return {question.code: question for question in survey.questions.all()}


@pytest.fixture
def expert(survey):
    return services.expert_create(
        survey=survey,
        name="Eun-ji Park",
        email="eunji@example.org",
        attributes={"nationality": "ROK"},
    )


@pytest.fixture
def other_expert(survey):
    return services.expert_create(
        survey=survey, name="Bob Miller", email="bob@example.org", attributes={"nationality": "US"}
    )


@pytest.fixture
def open_round(survey, expert, other_expert):
    survey_round = services.round_create(survey=survey)
    return services.round_open(survey_round=survey_round)


@pytest.fixture
def invitation(open_round, expert):
    return Invitation.objects.get(survey_round=open_round, expert=expert)


@pytest.fixture
def other_invitation(open_round, other_expert):
    return Invitation.objects.get(survey_round=open_round, expert=other_expert)


@pytest.fixture
def other_survey(other_staff):
    survey = services.survey_create(title="Another study", organizers=[other_staff])
    services.question_create(survey=survey, code="Q01", text="Another question?")
    return survey


@pytest.fixture
def expert_of_other_survey(other_survey):
    return services.expert_create(survey=other_survey, name="Carla", email="carla@example.org")


@pytest.fixture
def foreign_invitation(other_survey, expert_of_other_survey):
    survey_round = services.round_open(survey_round=services.round_create(survey=other_survey))
    return Invitation.objects.get(survey_round=survey_round, expert=expert_of_other_survey)


@pytest.fixture
def expert_client(invitation):
    return client_with_link(invitation)
