"""A small survey and its panel for the elicitation tests.

organizer       (tests/conftest.py) organizes ``survey``
other_staff     (tests/conftest.py) staff, organizes nothing (must be refused ``survey``)
member          (tests/conftest.py) not staff (must be refused every organizer page)
expert          on ``survey``'s panel, holds ``invitation`` to ``open_round``
other_expert    on the same panel, holds ``other_invitation``
expert_of_other_survey   on ``other_survey``'s panel, holds ``foreign_invitation``
"""

import pytest

from elicitation import services
from elicitation.models import Invitation, Question
from tests.elicitation.helpers import ROUND1, answers_submit, client_with_link


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


# --- Delphi: a closed round 1 and an open round 2 --------------------------------------------


@pytest.fixture
def third_expert(survey):
    return services.expert_create(
        survey=survey, name="Chen Wei", email="chen@example.org", attributes={"nationality": "US"}
    )


@pytest.fixture
def round1(survey, questions, expert, other_expert, third_expert):
    """Round 1, every expert submitted (ROUND1 in helpers), then closed."""
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    for panelist in (expert, other_expert, third_expert):
        invitation = Invitation.objects.get(survey_round=survey_round, expert=panelist)
        answers_submit(invitation, questions, ROUND1[panelist.code])
    return services.round_close(survey_round=survey_round)


@pytest.fixture
def round2(round1, survey):
    return services.round_open(survey_round=services.round_create(survey=survey))


@pytest.fixture
def invitation2(round2, expert):
    return Invitation.objects.get(survey_round=round2, expert=expert)


@pytest.fixture
def expert_client2(invitation2):
    return client_with_link(invitation2)
