"""No endpoint leaks what it must not: every URL pattern in config/urls.py, for each persona.

1. Experts (their link, their user logged in, or anonymous) never see another expert's
   answer or rationale of a round still open, a rationale an organizer hid, nor anyone's
   name; in round 1 they see nothing of anyone.
2. At the strict anonymity level, no page or download for organizers, analysts or a
   superuser (the admin included), nor any answer of the API to their personal token,
   shows an expert's name together with their code.

URLs are built from the patterns themselves: every keyword a pattern takes is filled from
the rows of the scenario. A pattern with a keyword this test does not know fails the test,
so a new endpoint is checked as soon as it exists.
"""

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from aggregation.models import AggregationRun
from api.models import ApiToken
from api.services import api_token_create
from elicitation import services
from elicitation.models import (
    Expert,
    ExpertContact,
    Invitation,
    Judgment,
    Question,
    Reminder,
    Round,
    Scenario,
    Survey,
)
from tests.elicitation.helpers import answers_submit, client_with_link, link_path, succeeded_run

OPEN_SECRET = "OPEN-ROUND-SECRET-RATIONALE"
OPEN_VALUE = 0.8123  # shown as 81.23 to the expert who gave it, and to nobody else
HIDDEN_SECRET = "HIDDEN-R1-SECRET"
# Meta-predictions (issue 15) of other experts: never shown to an expert, in either round.
CLOSED_META = {"ROK": 0.4242, "US": 0.5151}
OPEN_META = {"ROK": 0.6543, "US": 0.1234}
META_SECRETS = ["42.42", "0.4242", "51.51", "0.5151", "65.43", "0.6543", "12.34", "0.1234"]
# Keywords that some patterns take and that no persona could fill with a meaningful value.
UNFILLABLE = {"uidb64", "token"}  # password reset confirmation


@dataclass(frozen=True)
class Endpoint:
    name: str  # "namespace:name"
    keywords: frozenset[str]
    model: type | None  # the admin model of an admin view


def endpoints() -> list[Endpoint]:
    found: list[Endpoint] = []

    def walk(patterns, namespace: str, keywords: frozenset[str]):
        for pattern in patterns:
            own = frozenset(_keywords(pattern.pattern))
            if isinstance(pattern, URLResolver):
                ns = ":".join(p for p in (namespace, pattern.namespace) if p)
                walk(pattern.url_patterns, ns, keywords | own)
            elif isinstance(pattern, URLPattern) and pattern.name:
                model_admin = getattr(pattern.callback, "model_admin", None)
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                found.append(Endpoint(name, keywords | own, getattr(model_admin, "model", None)))

    walk(get_resolver().url_patterns, "", frozenset())
    return found


def _keywords(pattern) -> list[str]:
    converters = getattr(pattern, "converters", None)
    if converters:
        return list(converters)
    return list(pattern.regex.groupindex)


class Values:
    """What each URL keyword can be in the scenario (every row, not only the expert's)."""

    def __init__(self, survey: Survey):
        rounds = Round.objects.filter(survey__in=[survey, *Survey.objects.exclude(id=survey.id)])
        self.by_keyword = {
            "invitation_id": list(Invitation.objects.values_list("id", flat=True)),
            "round_id": list(rounds.values_list("id", flat=True)),
            "survey_id": list(Survey.objects.values_list("id", flat=True)),
            "run_id": list(AggregationRun.objects.values_list("id", flat=True)),
            "question_id": list(Question.objects.values_list("id", flat=True)),
            "scenario_id": list(Scenario.objects.values_list("id", flat=True)),
            "judgment_id": list(Judgment.objects.values_list("id", flat=True)),
            "reminder_id": list(Reminder.objects.values_list("id", flat=True)),
            # the data-subject pages address a person by their contact's random id (privacy)
            "contact_id": [str(pk) for pk in ExpertContact.objects.values_list("id", flat=True)],
            # a personal API token's page (api-tokens:revoke), whoever's it is
            "token_id": list(ApiToken.objects.values_list("id", flat=True)),
            "name": ["consensus", "question-Q01"],
            "app_label": ["elicitation", "aggregation", "auth"],
            "url": ["elicitation/nothing/"],
            # the organizer's preview of the expert pages (elicitation:round-preview)
            "language": ["en", "ko"],
            "page": ["welcome", "consent", "declined", "form"],
        }

    def urls(self, endpoint: Endpoint) -> list[str]:
        keywords = set(endpoint.keywords)
        if keywords & UNFILLABLE:
            return []
        unknown = keywords - set(self.by_keyword) - {"object_id", "content_type_id", "id"}
        assert not unknown, f"{endpoint.name} takes {unknown}: teach this test what they are"
        combos = [{}]
        for keyword in sorted(keywords):
            options = self._options(endpoint, keyword)
            combos = [{**c, keyword: v} for c in combos for v in options]
        urls = []
        for kwargs in combos:
            try:
                urls.append(reverse(endpoint.name, kwargs=kwargs))
            except Exception:  # e.g. an app_label this admin does not register
                continue
        return urls

    def _options(self, endpoint: Endpoint, keyword: str) -> list:
        if keyword in ("object_id", "id"):
            model = endpoint.model or get_user_model()
            return [str(pk) for pk in model.objects.values_list("pk", flat=True)[:6]]
        if keyword == "content_type_id":
            return [ContentType.objects.get_for_model(Expert).id]
        return self.by_keyword[keyword]


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


API_PREFIX = "/api/v1/"


def _get_everything(client, survey: Survey, api_token: str | None = None) -> dict[str, str]:
    """Every URL's body; the API's read with the persona's personal token, if it has one
    (the API authenticates tokens, not the browser's session)."""
    values = Values(survey)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_token}"} if api_token else {}
    bodies = {}
    for endpoint in endpoints():
        for url in values.urls(endpoint):
            api = url.startswith(API_PREFIX)
            bodies[url] = _body(client.get(url, **(headers if api else {})))
    assert len(bodies) > 60  # the enumeration found the site, not a handful of pages
    return bodies


# --- Experts -----------------------------------------------------------------------------


def _leaks(bodies: dict[str, str], secrets: list[str]) -> list[tuple[str, str]]:
    return [(url, s) for url, body in bodies.items() for s in secrets if s in body]


@pytest.fixture(autouse=True)
def every_cohort_named(settings):
    """This panel's cohorts have one or two experts: name them all, so that the experts'
    meta-predictions of each other are on the pages whose leaks these tests look for."""
    settings.REPORT_MIN_COHORT_SIZE = 1


@pytest.fixture
def round2_answered(round1, round2, other_expert, third_expert, questions, expert):
    """Round 1 closed (a rationale hidden, a model run), round 2 open with others' answers;
    both with others' meta-predictions."""
    succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2)})
    Judgment.objects.filter(survey_round=round1, expert=third_expert, question__code="Q02").update(
        rationale=HIDDEN_SECRET, rationale_hidden=True
    )
    services.survey_update(survey=round1.survey, meta_predictions=Survey.MetaPredictions.OPTIONAL)
    Judgment.objects.filter(survey_round=round1, expert=third_expert, question__code="Q01").update(
        meta_predictions=CLOSED_META
    )
    invitation = Invitation.objects.get(survey_round=round2, expert=other_expert)
    answers_submit(
        invitation,
        questions,
        {"Q01": OPEN_VALUE, "Q02": 0.2, "N01": (3, 77.75, 90), "rationale": OPEN_SECRET},
        rationale_on=("Q01", "Q02", "N01"),
    )
    services.judgment_save(
        invitation=invitation, question=questions["Q01"], probability=OPEN_VALUE,
        rationale=OPEN_SECRET, meta_predictions=OPEN_META,
    )  # fmt: skip
    return round2


def _expert_personas(expert, round1, round2):
    from django.test import Client

    link = client_with_link(Invitation.objects.get(survey_round=round2, expert=expert))
    # The same browser also opened the expert's round-1 link.
    link.get(link_path(Invitation.objects.get(survey_round=round1, expert=expert)))
    user = Client()
    user.force_login(expert.user)
    return {"expert_link": link, "expert_user": user, "anonymous": Client()}


@pytest.mark.parametrize("persona", ["expert_link", "expert_user", "anonymous"])
def test_no_endpoint_shows_an_expert_anything_of_an_open_round_or_a_hidden_rationale(
    persona, survey, expert, round1, round2_answered
):
    client = _expert_personas(expert, round1, round2_answered)[persona]
    bodies = _get_everything(client, survey)
    secrets = [OPEN_SECRET, HIDDEN_SECRET, "81.23", "0.8123", "77.75", "Bob Miller", "Chen Wei"]
    secrets += ["bob@example.org", "chen@example.org", *META_SECRETS]
    assert _leaks(bodies, secrets) == []
    if persona == "expert_link":  # and the round-2 page does show the closed round's feedback
        form = reverse(
            "elicitation:expert-form", args=[round2_answered.invitations.get(expert=expert).id]
        )
        assert "OTHER-R1-RATIONALE" in bodies[form]
        assert "ROK respondents (your group)" in bodies[form]  # the meta-predictions are asked


def test_in_round_one_an_expert_sees_nothing_of_anyone(
    survey, questions, expert, other_expert, open_round
):
    services.survey_update(survey=survey, meta_predictions=Survey.MetaPredictions.OPTIONAL)
    other = Invitation.objects.get(survey_round=open_round, expert=other_expert)
    answers_submit(
        other,
        questions,
        {"Q01": OPEN_VALUE, "Q02": 0.2, "N01": (3, 77.75, 90), "rationale": OPEN_SECRET},
    )
    services.judgment_save(
        invitation=other, question=questions["Q01"], probability=OPEN_VALUE,
        rationale=OPEN_SECRET, meta_predictions=OPEN_META,
    )  # fmt: skip
    client = client_with_link(Invitation.objects.get(survey_round=open_round, expert=expert))
    bodies = _get_everything(client, survey)
    secrets = [OPEN_SECRET, "81.23", "77.75", "Bob Miller", "bob@example.org", *META_SECRETS]
    assert _leaks(bodies, secrets) == []


# --- Strict anonymity --------------------------------------------------------------------


@pytest.fixture
def strict_survey(survey, round1, round2_answered, organizer, analyst):
    services.survey_anonymity_set(survey=survey, anonymity=Survey.Anonymity.STRICT)
    Reminder.objects.create(survey_round=round2_answered, send_at=round2_answered.opened_at)
    survey.analysts.add(analyst)
    return survey


@pytest.mark.parametrize("persona", ["organizer", "analyst", "superuser"])
def test_at_the_strict_level_no_page_puts_a_name_next_to_a_code(
    client, persona, strict_survey, organizer, analyst, superuser
):
    user = {"organizer": organizer, "analyst": analyst, "superuser": superuser}[persona]
    client.force_login(user)
    _row, token = api_token_create(user=user, name="independence")
    bodies = _get_everything(client, strict_survey, api_token=token)
    pairs = [
        (url, expert.code)
        for url, body in bodies.items()
        for expert in strict_survey.experts.all()
        if expert.code in body and (expert.contact.name in body or expert.contact.email in body)
    ]
    assert pairs == []
    # The API answered the token with the survey, not a wall of 401s.
    assert '"anonymity": "strict"' in bodies[API_PREFIX + "surveys"]
    if persona == "analyst":
        return
    # The pages that must exist for the check to mean something were read.
    round_page = reverse("elicitation:round-detail", args=[strict_survey.rounds.last().id])
    assert "E002" in bodies[round_page] and "Bob Miller" not in bodies[round_page]


def test_at_the_identified_level_the_progress_page_names_the_experts(
    organizer_client, round2_answered, other_expert
):
    page = organizer_client.get(reverse("elicitation:round-detail", args=[round2_answered.id]))
    assert "E002 — Bob Miller" in page.content.decode()


def test_strict_anonymity_cannot_be_undone_once_a_round_opened(survey, round1):
    services.survey_anonymity_set(survey=survey, anonymity=Survey.Anonymity.STRICT)
    with pytest.raises(services.ValidationError):
        services.survey_anonymity_set(survey=survey, anonymity=Survey.Anonymity.IDENTIFIED)
    survey.refresh_from_db()
    assert survey.is_strict


def test_the_organizer_picks_the_anonymity_level(organizer_client, survey):
    url = reverse("elicitation:survey-anonymity", args=[survey.id])
    assert organizer_client.post(url, {"anonymity": "strict"}).status_code == 302
    survey.refresh_from_db()
    assert survey.is_strict
    page = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    assert "Nobody can link answers to people" in page.content.decode()
