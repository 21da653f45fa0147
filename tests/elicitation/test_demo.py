"""The demo panel: its shape, its invariants, its planted cohort gaps and `load_demo`."""

from io import StringIO
from urllib.parse import urlsplit

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.urls import NoReverseMatch, reverse
from scipy.special import logit

from elicitation import demo
from elicitation.models import (
    Expert,
    Invitation,
    Judgment,
    JudgmentRevision,
    Question,
    Round,
    Scenario,
    Survey,
)

pytestmark = pytest.mark.django_db

ROK_HEAVY_CONTRIBUTIONS = ("military", "force-posture", "access", "logistics")
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def _demo_in_module(django_db_setup, django_db_blocker):
    """The demo, loaded once for this module and rolled back at its end.

    Each test still runs in its own savepoint (the django_db mark), so what one test
    writes is undone before the next; only the load itself (about a second) is shared.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
            loaded = demo.demo_load()
        yield loaded
        transaction.set_rollback(True)


@pytest.fixture
def loaded(_demo_in_module, db):
    return _demo_in_module


def _expert_entry_url_exists() -> bool:
    try:
        reverse("elicitation:expert-entry", args=[1])
    except NoReverseMatch:
        return False
    return True


def _round1_log_odds(question_code: str, nationality: str) -> float:
    probabilities = Judgment.objects.filter(
        survey_round__number=1,
        question__code=question_code,
        expert__attributes__nationality=nationality,
    ).values_list("probability", flat=True)
    # Clipped as the aggregation model clips: people answer 0 % and 100 %.
    return float(logit(np.clip(np.array(probabilities), 0.005, 0.995)).mean())


def _counts() -> dict[str, int]:
    models = (Survey, Scenario, Question, Round, Expert, Invitation, Judgment, JudgmentRevision)
    counts = {model.__name__: model.objects.count() for model in models}
    counts["User"] = get_user_model().objects.count()
    counts["round questions"] = Round.questions.through.objects.count()
    counts["organizers"] = Survey.organizers.through.objects.count()
    return counts


# --- Shape -------------------------------------------------------------------------------


def test_survey_has_scenarios_and_enough_questions_of_each_kind(loaded):
    survey = loaded.survey
    assert survey.title == demo.DEMO_SURVEY_TITLE
    assert "hypothetical" in survey.background and "95" in survey.background
    assert survey.scenarios.count() >= 3
    assert all(len(s.description) > 100 for s in survey.scenarios.all())
    targets = survey.questions.filter(is_seed=False)
    assert targets.filter(kind=Question.Kind.BINARY).count() >= 24
    assert targets.filter(kind=Question.Kind.NUMERIC).count() >= 4
    assert not targets.filter(scenario__isnull=True).exists()
    actors = {
        tag.removeprefix("actor:")
        for question in targets
        for tag in question.tag_list
        if tag.startswith("actor:")
    }
    assert {"ROK", "Japan", "Australia", "Philippines", "DPRK"} <= actors
    for question in survey.questions.all():
        assert question.resolution_criteria, question.code
        assert any(t.startswith("contribution:") for t in question.tag_list), question.code


def test_numeric_questions_have_unit_bounds_and_a_scale(loaded):
    numeric = loaded.survey.questions.filter(kind=Question.Kind.NUMERIC)
    assert {q.scale for q in numeric} == {Question.Scale.UNIFORM, Question.Scale.LOG}
    for question in numeric:
        assert question.unit, question.code
        assert question.lower_bound < question.upper_bound, question.code
        if question.scale == Question.Scale.LOG:
            assert question.lower_bound > 0, question.code


def test_seed_questions_have_known_answers_inside_bounds_and_a_source(loaded):
    seeds = loaded.survey.questions.filter(is_seed=True)
    assert seeds.count() >= 5
    assert seeds.filter(kind=Question.Kind.NUMERIC).count() >= 5
    assert seeds.filter(kind=Question.Kind.BINARY).count() >= 1
    for seed in seeds:
        assert "Source" in seed.resolution_criteria, seed.code
        if seed.kind == Question.Kind.BINARY:
            assert seed.seed_answer in (0.0, 1.0), seed.code
        else:
            assert seed.lower_bound <= seed.seed_answer <= seed.upper_bound, seed.code
    # Spot-check facts that are easy to get wrong.
    answers = {q.code: q.seed_answer for q in seeds}
    assert answers["CAL02"] == 9  # EDCA sites since 2023
    assert answers["CAL06"] == 6  # North Korean nuclear tests
    assert answers["CAL08"] == 0.0  # no nuclear test in 2023


def test_panel_has_us_and_rok_cohorts_across_sectors(loaded):
    experts = list(loaded.survey.experts.select_related("user", "contact"))
    assert len(experts) >= 40
    nationalities = [e.attributes["nationality"] for e in experts]
    assert set(nationalities) == {"US", "ROK"}
    assert min(nationalities.count("US"), nationalities.count("ROK")) >= 15
    sectors = {e.attributes["sector"] for e in experts}
    assert len(sectors) >= 3 and sectors <= set(demo.SECTORS)
    assert [e.code for e in experts] == [f"E{n:03d}" for n in range(1, len(experts) + 1)]
    assert all(e.contact.email.endswith("@example.org") for e in experts)
    assert len({e.contact.email for e in experts}) == len(experts)
    korean = [e for e in experts if e.language == Expert.Language.KO]
    assert 1 <= len(korean) < len(experts) / 2
    assert all(e.attributes["nationality"] == "ROK" for e in korean)
    assert not any(e.user.has_usable_password() for e in experts)


def test_demo_logins_work_and_the_organizer_runs_the_survey(loaded, client):
    assert loaded.organizer.is_staff and not loaded.organizer.is_superuser
    assert loaded.admin.is_superuser
    assert loaded.survey.organizers.filter(pk=loaded.organizer.pk).exists()
    for username in (demo.DEMO_ORGANIZER_USERNAME, demo.DEMO_ADMIN_USERNAME):
        login = client.post(
            reverse("login"), {"username": username, "password": demo.DEMO_PASSWORD}
        )
        assert login.status_code == 302, username  # to the landing page: logged in
    assert client.get(reverse("admin:index")).status_code == 200


# --- Rounds ------------------------------------------------------------------------------


def test_round1_is_closed_and_every_expert_submitted_every_answer(loaded):
    round1 = loaded.closed_round
    assert round1.status == Round.Status.CLOSED and round1.closed_at is not None
    assert set(round1.questions.all()) == set(loaded.survey.questions.all())
    invitations = round1.invitations.all()
    assert invitations.count() == loaded.survey.experts.count()
    assert not invitations.filter(submitted_at__isnull=True).exists()
    for invitation in invitations:
        assert invitation.first_opened_at <= invitation.submitted_at <= round1.closed_at
    # Submitting needs every question answered (services.invitation_submit).
    n_questions = round1.questions.count()
    assert round1.judgments.count() == n_questions * loaded.survey.experts.count()


def test_round2_is_closed_with_revisions_toward_the_panel_and_reasons(loaded):
    round1, round2 = loaded.closed_round, loaded.second_round
    assert round2.status == Round.Status.CLOSED and round2.feedback_round == round1
    assert not round2.invitations.filter(submitted_at__isnull=True).exists()
    assert round2.judgments.count() == round2.questions.count() * loaded.survey.experts.count()
    before = {
        (j.expert_id, j.question_id): j
        for j in round1.judgments.filter(question__in=round2.questions.all())
    }
    kept = moved = toward = 0
    for judgment in round2.judgments.select_related("question"):
        earlier = before[judgment.expert_id, judgment.question_id]
        values = ("probability", "q05", "q50", "q95")
        if all(getattr(judgment, v) == getattr(earlier, v) for v in values):
            kept += 1
            assert judgment.change_reason == ""
            continue
        moved += 1
        if judgment.question.is_binary:
            median = np.median(
                [b.probability for (e, q), b in before.items() if q == judgment.question_id]
            )
            toward += abs(judgment.probability - median) <= abs(earlier.probability - median)
    assert kept > 0.4 * (kept + moved) and moved > 0.15 * (kept + moved)
    assert toward > 0.9 * sum(
        1
        for j in round2.judgments.all()
        if j.probability is not None
        and j.probability != before[j.expert_id, j.question_id].probability
    )
    reasons = round2.judgments.exclude(change_reason="")
    assert reasons.count() > 0.5 * moved
    assert any("라운드" in r for r in reasons.values_list("change_reason", flat=True))
    revision = JudgmentRevision.objects.filter(judgment__in=reasons).first()
    assert revision.change_reason == revision.judgment.change_reason


def test_both_closed_rounds_have_a_hierarchical_run_requested(loaded):
    from aggregation.models import AggregationRun

    for survey_round in (loaded.closed_round, loaded.second_round):
        runs = AggregationRun.objects.filter(survey_round=survey_round, method="hierarchical")
        assert runs.count() == 1


def test_both_closed_rounds_have_their_numeric_questions_and_seeds_aggregated(loaded):
    from aggregation.models import AggregationRun
    from aggregation.selectors import numeric_data_for_round

    seeds = set(
        Question.objects.filter(kind="numeric", is_seed=True).values_list("code", flat=True)
    )
    for survey_round in (loaded.closed_round, loaded.second_round):
        run = AggregationRun.objects.get(survey_round=survey_round, method="numeric_hierarchical")
        data = numeric_data_for_round(survey_round=survey_round, cohort_attribute="nationality")
        assert run.data_hash == data.data_hash() and data.left_out == []
        # Seeds are asked in round 1 only: round 2's experts are calibrated by their answers.
        assert seeds <= set(data.table.questions) and set(data.realizations) == seeds


def test_a_korean_speaking_expert_reads_a_translated_survey(loaded, client):
    korean = loaded.korean_invitation
    assert korean.expert.language == "ko" and korean.expert.time_zone == "Asia/Seoul"
    assert not korean.survey_round.judgments.filter(expert=korean.expert).exists()
    survey = loaded.survey
    assert survey.title_ko and survey.background_ko
    assert all(s.title_ko and s.description_ko for s in survey.scenarios.all())
    translated = survey.questions.exclude(text_ko="")
    assert 30 <= translated.count() < survey.questions.count()  # a few fall back to English


def test_round3_is_open_with_a_few_partial_answers(loaded):
    round2 = loaded.open_round
    assert round2.feedback_round == loaded.second_round
    assert round2.status == Round.Status.OPEN and round2.closed_at is None
    assert not round2.questions.filter(is_seed=True).exists()
    assert round2.questions.count() == loaded.survey.questions.filter(is_seed=False).count()
    invitations = round2.invitations.all()
    assert invitations.count() == loaded.survey.experts.count()
    assert not invitations.filter(submitted_at__isnull=False).exists()
    assert all(not i.is_expired() for i in invitations)
    savers = set(round2.judgments.values_list("expert__code", flat=True))
    assert 3 <= len(savers) <= 10
    assert demo.DEMO_EXPERT_CODE not in savers
    assert demo.demo_korean_expert_code() not in savers
    for code in savers:  # partial: saved, not complete
        assert round2.judgments.filter(expert__code=code).count() < round2.questions.count()
    opened = invitations.filter(first_opened_at__isnull=False)
    assert savers < set(opened.values_list("expert__code", flat=True))


# --- Answers -----------------------------------------------------------------------------


def test_every_judgment_has_history_ending_in_its_current_value(loaded):
    judgments = Judgment.objects.prefetch_related("revisions")
    assert judgments.count() > 2000
    drafted = 0
    for judgment in judgments:
        revisions = list(judgment.revisions.all())
        assert revisions, judgment
        last = revisions[-1]
        assert (last.probability, last.q05, last.q50, last.q95, last.rationale) == (
            judgment.probability,
            judgment.q05,
            judgment.q50,
            judgment.q95,
            judgment.rationale,
        )
        drafted += len(revisions) > 1
    assert drafted > 0  # some answers were changed before submission: history shows both


def test_probabilities_are_in_the_unit_interval_in_five_percent_steps(loaded):
    probabilities = np.array(
        Judgment.objects.filter(question__kind=Question.Kind.BINARY).values_list(
            "probability", flat=True
        )
    )
    assert probabilities.size > 1000
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    np.testing.assert_allclose(probabilities * 20, np.round(probabilities * 20), atol=1e-9)
    assert not Judgment.objects.filter(
        question__kind=Question.Kind.BINARY, q50__isnull=False
    ).exists()


def test_quantiles_are_strictly_ordered_and_inside_the_bounds(loaded):
    numeric = Judgment.objects.filter(question__kind=Question.Kind.NUMERIC).select_related(
        "question"
    )
    assert numeric.count() >= 40 * 9
    for j in numeric:
        q = j.question
        assert j.probability is None
        assert q.lower_bound <= j.q05 < j.q50 < j.q95 <= q.upper_bound, (j, j.q05, j.q50, j.q95)


def test_seed_answers_mix_calibrated_and_overconfident_experts(loaded):
    seeds = loaded.survey.questions.filter(is_seed=True, kind=Question.Kind.NUMERIC)
    hits = {}
    for judgment in Judgment.objects.filter(question__in=seeds).select_related("question"):
        hit = judgment.q05 <= judgment.question.seed_answer <= judgment.q95
        hits.setdefault(judgment.expert_id, []).append(hit)
    rates = np.array([np.mean(h) for h in hits.values()])
    # A 90 % interval should hold the truth about 90 % of the time; the panel as a whole
    # does worse (overconfidence), and experts differ.
    assert 0.3 < rates.mean() < 0.9
    assert rates.max() - rates.min() >= 0.5


def test_rationales_are_written_for_a_share_of_answers_some_in_korean(loaded):
    round1 = Judgment.objects.filter(survey_round=loaded.closed_round)
    share = round1.exclude(rationale="").count() / round1.count()
    assert 0.15 < share < 0.6
    korean = round1.filter(expert__language="ko").exclude(rationale="")
    assert any(
        "\uac00" <= ch <= "\ud7a3" for r in korean.values_list("rationale", flat=True) for ch in r
    )
    english = round1.filter(expert__language="en").exclude(rationale="")
    assert english.values("rationale").distinct().count() > 30  # varied, not one sentence


# --- Planted cohort differences ----------------------------------------------------------


def test_planted_cohort_gaps_show_in_the_raw_round1_answers(loaded):
    assert len(demo.PLANTED_COHORT_GAPS) >= 8
    observed = {
        code: _round1_log_odds(code, "US") - _round1_log_odds(code, "ROK")
        for code in demo.PLANTED_COHORT_GAPS
    }
    for code, planted in demo.PLANTED_COHORT_GAPS.items():
        assert np.sign(observed[code]) == np.sign(planted), (code, planted, observed[code])
    # Americans expect more of Seoul on force posture, logistics and sanctions: on average
    # the raw gap recovers most of what was planted.
    positive = [code for code, gap in demo.PLANTED_COHORT_GAPS.items() if gap > 0]
    assert np.mean([observed[c] for c in positive]) > 0.6 * np.mean(
        [demo.PLANTED_COHORT_GAPS[c] for c in positive]
    )


def test_humanitarian_support_is_seen_alike_by_both_cohorts(loaded):
    humanitarian = loaded.survey.questions.filter(
        kind=Question.Kind.BINARY, tags__contains="contribution:humanitarian"
    )
    assert humanitarian.count() >= 3
    for question in humanitarian:
        assert question.code not in demo.PLANTED_COHORT_GAPS
        gap = _round1_log_odds(question.code, "US") - _round1_log_odds(question.code, "ROK")
        # Sampling noise of a cohort-mean difference here is about 0.25 in log-odds.
        assert abs(gap) < 0.6, (question.code, gap)


def test_everyone_expects_other_allies_to_do_more_than_south_korea(loaded):
    round1 = Judgment.objects.filter(
        survey_round=loaded.closed_round,
        question__is_seed=False,
        question__kind=Question.Kind.BINARY,
        question__scenario__code__in=["invasion", "regional-war"],
    )
    for nationality in ("US", "ROK"):
        cohort = round1.filter(expert__attributes__nationality=nationality)
        allies = [
            j.probability
            for j in cohort.select_related("question")
            if any(f"actor:{a}" in j.question.tags for a in ("Japan", "Australia", "Philippines"))
        ]
        rok = [
            j.probability
            for j in cohort.select_related("question")
            if "actor:ROK" in j.question.tags
            and any(f"contribution:{c}" in j.question.tags for c in ROK_HEAVY_CONTRIBUTIONS)
        ]
        assert np.mean(allies) > np.mean(rok) + 0.2, nationality


def test_planted_numeric_gaps_show_in_the_cohort_medians(loaded):
    assert demo.PLANTED_NUMERIC_GAPS
    for code, planted in demo.PLANTED_NUMERIC_GAPS.items():
        medians = {
            nationality: np.median(
                Judgment.objects.filter(
                    survey_round=loaded.closed_round,
                    question__code=code,
                    expert__attributes__nationality=nationality,
                ).values_list("q50", flat=True)
            )
            for nationality in ("US", "ROK")
        }
        assert np.sign(medians["US"] - medians["ROK"]) == np.sign(planted), (code, medians)


# --- Idempotence and the command ---------------------------------------------------------


def test_loading_twice_creates_nothing_new(loaded):
    before = _counts()
    again = demo.demo_load(seed=7)  # another seed changes nothing once the demo is there
    assert _counts() == before
    assert again.survey == loaded.survey and not again.created and loaded.created
    assert Survey.objects.filter(title=demo.DEMO_SURVEY_TITLE).count() == 1


def test_load_demo_prints_logins_and_a_working_expert_link(loaded, client, settings):
    if not _expert_entry_url_exists():
        pytest.skip("the expert pages (elicitation:expert-entry) are not installed")
    settings.SITE_URL = "http://demo.example:8000"
    out = StringIO()
    call_command("load_demo", stdout=out)
    text = out.getvalue()
    invitation = Invitation.objects.get(
        survey_round=loaded.open_round, expert__code=demo.DEMO_EXPERT_CODE
    )
    entry = reverse("elicitation:expert-entry", args=[invitation.id])
    assert f"http://demo.example:8000{reverse('login')}" in text
    assert f"http://demo.example:8000{reverse('admin:index')}" in text
    assert f"username {demo.DEMO_ORGANIZER_USERNAME}, password {demo.DEMO_PASSWORD}" in text
    link = next(word for word in text.split() if entry in word)
    assert link.startswith(f"http://demo.example:8000{entry}?t=")
    assert len(text.strip().splitlines()) <= 7
    korean = reverse("elicitation:expert-entry", args=[loaded.korean_invitation.id])
    assert f"http://demo.example:8000{korean}?t=" in text
    assert reverse("aggregation:round-comparison", args=[loaded.second_round.id]) in text

    # The printed link opens the expert's round-3 form.
    parts = urlsplit(link)
    response = client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 302
    assert response["Location"] == reverse("elicitation:expert-welcome", args=[invitation.id])
    invitation.refresh_from_db()
    assert invitation.first_opened_at is not None


def test_load_demo_twice_duplicates_nothing_and_prints_the_same_block(settings):
    out1, out2 = StringIO(), StringIO()
    call_command("load_demo", stdout=out1)
    before = _counts()
    call_command("load_demo", "--seed", "5", stdout=out2)
    assert _counts() == before

    def without_token(text):
        return [line.split("?t=")[0] for line in text.strip().splitlines()]

    assert without_token(out1.getvalue()) == without_token(out2.getvalue())


# --- Meta-predictions (issue 15) ---------------------------------------------------------


def test_the_open_round_asks_meta_predictions_on_some_binary_questions(loaded):
    assert loaded.survey.meta_predictions == Survey.MetaPredictions.OPTIONAL
    asking = set(
        loaded.open_round.questions.filter(asks_meta_predictions=True, kind="binary").values_list(
            "code", flat=True
        )
    )
    assert asking == set(demo.META_QUESTION_CODES) and 8 <= len(asking) < 30
    saved = loaded.open_round.judgments.exclude(meta_predictions={})
    assert saved.exists() and saved.count() < loaded.open_round.judgments.count()


def test_every_expert_gave_them_in_round2_with_the_planted_misperception(loaded):
    """The raw mean error of each cohort's predictions of the other is near the planted
    shared misperception (15 questions x ~22 experts: its standard error is about 0.09 from
    the question part plus 0.02 from the experts), and about its own cohort near zero."""
    judgments = list(
        Judgment.objects.filter(
            survey_round=loaded.second_round, question__asks_meta_predictions=True
        ).select_related("expert", "question")
    )
    assert judgments and all(set(j.meta_predictions) == {"US", "ROK"} for j in judgments)
    actual: dict = {}
    for j in judgments:
        actual.setdefault((j.question.code, j.expert.attributes["nationality"]), []).append(
            j.probability
        )
    means = {k: logit(np.clip(v, 0.005, 0.995)).mean() for k, v in actual.items()}
    errors: dict = {}
    for j in judgments:
        by = j.expert.attributes["nationality"]
        for of, predicted in j.meta_predictions.items():
            errors.setdefault((by, of), []).append(logit(predicted) - means[j.question.code, of])
    mean_error = {pair: float(np.mean(values)) for pair, values in errors.items()}
    assert mean_error["US", "ROK"] == pytest.approx(0.8, abs=0.3)
    assert mean_error["ROK", "US"] == pytest.approx(-0.6, abs=0.3)
    assert mean_error["US", "US"] == pytest.approx(0.0, abs=0.15)
    assert mean_error["ROK", "ROK"] == pytest.approx(0.0, abs=0.15)
    revisions = JudgmentRevision.objects.filter(judgment__in=[j.id for j in judgments[:20]])
    assert all(set(r.meta_predictions) == {"US", "ROK"} for r in revisions.order_by("-id")[:5])
