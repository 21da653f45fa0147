"""The demo panel: a survey on allied contributions in a Taiwan conflict, with a synthetic
panel of US and ROK experts whose answers carry known, planted cohort differences.

Everything here is demonstration data. The questions are ours, written from the public
summary of KEI's "Siloed No More" study (``shared/brief/``); the experts and their answers
are synthetic. Binary answers come from the aggregation model's own generative story
(``aggregation.engine.synthetic.simulate_binary_panel``) with the consensus ``mu``, the
dispersion ``kappa`` and the US-minus-ROK gap of every question chosen below, so the
report built on them has a known truth to recover (``PLANTED_COHORT_GAPS``).

The survey runs as a Delphi study: round 1 is closed, round 2 (after feedback) is closed
with revisions, some experts keeping their answers and some moving toward the round-1
consensus with a "why I changed" reason, and round 3 is open with round 2's feedback. The
Korean texts of the survey are in ``demo_ko``.

Meta-predictions (issue 15): the survey asks them (optional) on the questions about South
Korea's own contributions, where the cohorts disagree (``META_QUESTION_CODES``). In the
closed round 2 every expert gave them, generated with a planted shared misperception
(``demo_meta_predictions``, ``META_MISPERCEPTION``), so the perception report has a known
truth to recover; in the open round 3 some of the experts who saved answers gave some.

``demo_load`` writes it all in one transaction and is idempotent: the demo survey is found
by its title, and a second call returns it untouched.
"""

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone
from scipy.special import expit, logit

from aggregation.engine.synthetic import simulate_binary_panel
from aggregation.selectors import ANALYST_GROUP
from aggregation.services import aggregation_runs_request_for_closed_round
from elicitation import demo_ko
from elicitation.models import (
    ConsentResponse,
    ConsentVersion,
    Expert,
    Invitation,
    Judgment,
    JudgmentRevision,
    Question,
    Round,
    Survey,
)
from elicitation.services import expert_create, question_create, scenario_create, survey_create

DEMO_SURVEY_TITLE = "Allied contributions in a Taiwan conflict"
DEMO_PASSWORD = "consilium-demo"
DEMO_ORGANIZER_USERNAME = "organizer"
DEMO_ADMIN_USERNAME = "admin"
DEMO_ANALYST_USERNAME = "analyst"  # reads reports only: not staff, in the analyst group
# The expert whose personal link `load_demo` prints: no round-3 answers yet, English.
DEMO_EXPERT_CODE = "E001"
# Its Korean-speaking counterpart is demo_korean_expert_code(): a ROK panelist.
DEMO_SEED = 2026
DEMO_CONTACT_EMAIL = "panel-secretariat@example.org"

COHORTS = ("US", "ROK")
SECTORS = ("government", "former official", "think tank", "academia")

BINARY = Question.Kind.BINARY
NUMERIC = Question.Kind.NUMERIC
LOG = Question.Scale.LOG
UNIFORM = Question.Scale.UNIFORM

# The consent and information text: version 1 was accepted by everyone in round 1; version
# 2 (a longer retention period) came before round 3, so the featured experts' links lead
# to the consent page first and say that the text changed since they agreed.
CONSENT = """\
## Taking part

You are invited as an expert to a structured elicitation on allied contributions in a
Taiwan conflict. Taking part is voluntary: you may skip the survey, stop at any time, and
ask us to delete your answers.

## What we record

Your answers (probabilities and ranges), your rationales and the times you saved them.
Rationales are shown to the other experts in the next round, without your name.

## How long we keep it

Until the study report is published, and at most two years.
"""
CONSENT_V2 = CONSENT.replace("at most two years", "at most three years (changed in round 3)")
CONSENT_KO = """\
## 참여 안내

대만 유사시 동맹국의 기여에 관한 구조화된 전문가 판단 조사에 전문가로 초대합니다. 참여는
자발적입니다. 참여하지 않거나 언제든지 중단할 수 있으며, 답변 삭제를 요청할 수 있습니다.

## 기록하는 내용

답변(확률과 범위), 근거, 저장한 시각입니다. 근거는 다음 라운드에서 이름 없이 다른
전문가들에게 공유됩니다.

## 보관 기간

연구 보고서가 공개될 때까지, 최대 2년입니다.
"""
CONSENT_V2_KO = CONSENT_KO.replace("최대 2년입니다.", "최대 3년입니다(3라운드에서 변경).")

BACKGROUND = """\
## What this panel is for

Plans for a crisis over Taiwan rest on assumptions about what US allies would and would
not do: let US forces leave their territory, open their ports and airfields, sanction
China, send ships. Those assumptions are rarely written down, let alone put into numbers,
and interviews suggest that American and South Korean experts hold quite different ones.
This panel asks you to state yours as probabilities and ranges, so that the agreements and
the gaps can be seen, argued over and revisited.

The questions cover three contingencies, from a blockade to a regional war, and what South
Korea, Japan, Australia and the Philippines would contribute in each, how North Korea would
behave, and how the United States would reassure Seoul.

## How to answer

- **Probability questions.** Give the chance, from 0 to 100 %, that the event happens
  exactly as its resolution criteria describe, *assuming the scenario occurs*. 50 % means
  you cannot lean either way; keep 0 % and 100 % for near-certainties.
- **Numeric questions.** Give three values: a low value (5 %: you would be surprised, one
  time in twenty, to see the truth below it), your best estimate (50 %: as likely above as
  below) and a high value (95 %). A range that is too narrow misleads as much as one that
  is too wide.
- **Calibration questions.** In round 1, a few questions grouped at the end have answers
  that are already known. They let us weight the panel fairly. Please answer them from
  memory, without looking anything up.
- **Rationale.** A sentence or two on why. Rationales are shown to the panel, without
  names, in the next round, and they are the most useful part of the exercise.

You can save and come back at any time before the round closes. From round 2 on you see
the panel's anonymised answers and reasons of the round before, and you may revise yours.

## A note on the scenarios

The scenarios are hypothetical and deliberately simplified. They are not forecasts of
what will happen, and nothing in this survey describes the policy or plans of any
government. Answers are reported only in aggregate or under anonymised codes.

*Demonstration data: this panel and its answers are synthetic.*
"""


@dataclass(frozen=True)
class ScenarioSpec:
    code: str
    title: str
    description: str


SCENARIOS = (
    ScenarioSpec(
        "blockade",
        "A PRC quarantine and blockade of Taiwan",
        'Beijing declares a "customs quarantine" of Taiwan enforced by the China Coast '
        "Guard and, when ships keep sailing, a PLA Navy blockade of Taiwan's main ports and "
        "their approaches. There is no landing on Taiwan and no attack on US forces. The "
        "United States and several partners start escorting merchant ships and flying in "
        "supplies. The Korean Peninsula stays quiet.\n\n**Day 0** is the day the PRC starts "
        "enforcing the blockade; every time window in this scenario counts from Day 0.",
    ),
    ScenarioSpec(
        "invasion",
        "A PLA amphibious invasion of Taiwan",
        "After weeks of mobilisation the PLA strikes military targets on Taiwan with "
        "missiles and aircraft and lands troops on its western coast. The United States "
        "intervenes, operating from bases in Japan, Guam and elsewhere, and takes heavy "
        "casualties in the first weeks. China does not strike US bases outside the "
        "immediate theatre, and there is no fighting on the Korean Peninsula.\n\n**Day 0** "
        "is the first PLA strike on Taiwan.",
    ),
    ScenarioSpec(
        "regional-war",
        "A regional war that reaches the Korean Peninsula",
        "As in the invasion scenario, but the war widens: the PLA strikes US bases in Japan "
        "and on Guam, and US forces normally earmarked for Korea are committed to the fight "
        "around Taiwan. North Korea mobilises, launches missiles and threatens the South. "
        "Whether it attacks is one of the questions.\n\n**Day 0** is the first PLA strike on "
        "a US base outside Taiwan.",
    ),
)


@dataclass(frozen=True)
class QuestionSpec:
    """One demo question plus the parameters its synthetic answers are drawn from.

    Binary: ``mu`` is the consensus log-odds, ``gap`` the planted US-minus-ROK difference
    in log-odds (split as +gap/2, -gap/2, so consensus weighs the cohorts equally),
    ``kappa`` the dispersion. Numeric: experts' medians scatter around ``centre`` (the
    known answer's neighbourhood for seeds) with ``spread`` on the question's scale (log
    units for log-scale questions); ``gap`` is the US-minus-ROK shift on that scale.
    """

    code: str
    scenario: str | None
    kind: str
    text: str
    resolution: str
    actor: str
    contribution: str
    guidance: str = ""
    mu: float = 0.0
    gap: float = 0.0
    kappa: float = 0.6
    unit: str = ""
    lower: float | None = None
    upper: float | None = None
    scale: str = UNIFORM
    step: float = 1.0
    centre: float = 0.0
    spread: float = 1.0
    seed_answer: float | None = None

    @property
    def tags(self) -> str:
        tags = [f"actor:{self.actor}", f"contribution:{self.contribution}"]
        return ", ".join(["seed", *tags] if self.seed_answer is not None else tags)


def _binary(code, scenario, actor, contribution, text, resolution, *, mu, gap=0.0, kappa=0.6):
    return QuestionSpec(
        code, scenario, BINARY, text, resolution, actor, contribution, mu=mu, gap=gap, kappa=kappa
    )


def _numeric(code, scenario, actor, contribution, text, resolution, **numbers):
    return QuestionSpec(code, scenario, NUMERIC, text, resolution, actor, contribution, **numbers)


_STATEMENT = (
    "Yes if, by the end of Day 7, the ROK President's Office or Ministry of Foreign Affairs "
    "issues a public statement that names China and criticises its {what} (for example "
    '"condemn", "deplore", "oppose" or "urge China to stop"). Calls on "all parties" '
    "to show restraint that do not name China do not count."
)
_SANCTIONS = (
    "Yes if, by Day 60, the ROK government announces export controls, financial sanctions or "
    "trade restrictions on PRC entities that it presents as a response to the {what} and as "
    "coordinated with the United States, the G7 or the EU. Measures against single firms "
    "for unrelated reasons do not count."
)
_NEO = (
    "Yes if, by Day 30, ROK government ships or aircraft (military or chartered) carry "
    "civilians out of Taiwan and the evacuees include nationals of at least one other "
    "country, as reported by the ROK government or a partner government."
)
_MEDEVAC = (
    "Yes if, by Day 60, wounded US service members evacuated from the Taiwan theatre are "
    "admitted to ROK military or civilian hospitals, as confirmed by either government. US "
    "military hospitals on USFK bases do not count."
)
_DPRK_ATTACK = (
    "Yes if, by Day {day}, North Korean forces fire on ROK forces, territory or vessels across "
    "the DMZ or the Northern Limit Line (artillery, missile, ground or naval attack) causing "
    "damage or casualties, as reported by the ROK Joint Chiefs of Staff. Missile tests into "
    "the sea do not count."
)

QUESTIONS = (
    # --- Blockade ----------------------------------------------------------------------
    _binary(
        "BL01", "blockade", "ROK", "diplomatic",
        "Will the South Korean government issue a statement naming China and criticising the "
        "blockade within 7 days of Day 0?",
        _STATEMENT.format(what="blockade"), mu=-0.2, gap=0.8, kappa=0.8,
    ),
    _binary(
        "BL02", "blockade", "ROK", "economic",
        "Will South Korea join multilateral sanctions against China within 60 days of Day 0?",
        _SANCTIONS.format(what="blockade"), mu=-1.3, gap=1.0,
    ),
    _binary(
        "BL03", "blockade", "ROK", "maritime",
        "Will the ROK Navy join a multinational operation protecting merchant shipping near "
        "Taiwan or in the East China Sea within 60 days of Day 0?",
        "Yes if, by Day 60, at least one ROK Navy ship is officially reported (by the ROK "
        "Ministry of National Defense or a coalition partner) as assigned to a multinational "
        "escort, convoy or maritime-security operation whose stated area includes the East "
        "China Sea, the Taiwan Strait or the approaches to Taiwan. Escorting Korean-flagged "
        "ships on a purely national basis does not count.",
        mu=-0.9, gap=1.2,
    ),
    _binary(
        "BL04", "blockade", "ROK", "connectivity",
        "Will South Korea help keep Taiwan connected, through satellite capacity, cable repair "
        "or rerouting, within 30 days of Day 0?",
        "Yes if, by Day 30, the ROK government, or Korean firms with publicly reported "
        "government approval, provide satellite bandwidth, cable-repair ships or alternative "
        "routing that keeps Taiwan's external internet and telephone links running. "
        "Commercial contracts signed before Day 0 do not count.",
        mu=-0.6, gap=0.8,
    ),
    _binary(
        "BL05", "blockade", "ROK", "humanitarian",
        "Will South Korea take part in a noncombatant evacuation of foreign nationals from "
        "Taiwan within 30 days of Day 0?",
        _NEO, mu=0.9, kappa=0.45,
    ),
    _binary(
        "BL06", "blockade", "Japan", "maritime",
        "Will Japan's Maritime Self-Defense Force escort or protect merchant ships bound for "
        "Taiwan within 30 days of Day 0?",
        "Yes if, by Day 30, the Japanese government announces or confirms that JMSDF ships are "
        "escorting, accompanying or otherwise protecting merchant ships sailing to or from "
        "Taiwan, whatever legal basis it cites. Protecting Japanese-flagged ships in Japanese "
        "waters only does not count.",
        mu=0.5,
    ),
    _binary(
        "BL07", "blockade", "Australia", "maritime",
        "Will Australia assign naval forces to a US-led maritime operation around Taiwan within "
        "60 days of Day 0?",
        "Yes if, by Day 60, the Australian government announces that at least one Royal "
        "Australian Navy ship or submarine is assigned to a US-led or multinational operation "
        "whose stated area includes the waters around Taiwan.",
        mu=0.5,
    ),
    _binary(
        "BL08", "blockade", "Philippines", "access",
        "Will the Philippines let US forces use EDCA sites for operations against the blockade "
        "within 30 days of Day 0?",
        "Yes if, by Day 30, the Philippine government confirms, or credible reporting shows "
        "without a Philippine denial, that US forces operate from one or more Enhanced Defense "
        "Cooperation Agreement sites in support of operations related to the blockade "
        "(surveillance, escort, airlift). Rotations and exercises scheduled before Day 0 do "
        "not count.",
        mu=0.6,
    ),
    _binary(
        "BL09", "blockade", "DPRK", "provocation",
        "Will North Korea conduct a nuclear test within 90 days of Day 0?",
        "Yes if, by Day 90, the CTBTO, the ROK or US government, or North Korean state media "
        "report a North Korean nuclear explosive test.",
        mu=-1.5, kappa=0.8,
    ),
    _binary(
        "BL10", "blockade", "US", "reassurance",
        "Will the United States publicly reaffirm its extended-deterrence commitment to South "
        "Korea at cabinet level or above within 14 days of Day 0?",
        "Yes if, by Day 14, the US President, Secretary of Defense or Secretary of State says "
        "publicly that the US commitment to defend the ROK, including with nuclear forces "
        "(\"extended deterrence\", \"the full range of capabilities\"), is unchanged. "
        "Statements by lower-ranking officials do not count.",
        mu=1.0,
    ),
    _numeric(
        "BL11", "blockade", "ROK", "diplomatic",
        "How many days after Day 0 will the South Korean government first issue a statement "
        "naming China and criticising the blockade?",
        "The number of days from Day 0 to the first statement that meets the criteria of BL01 "
        "(a statement on Day 0 itself counts as 1). Resolves at 365 if there is none within a "
        "year.",
        unit="days", lower=1, upper=365, scale=LOG, step=1, centre=9, spread=0.7,
        gap=float(np.log(0.4)),
    ),
    _numeric(
        "BL12", "blockade", "ROK", "economic",
        "By how much will the value of South Korea's exports to China fall in the 12 months "
        "after Day 0, compared with the 12 months before?",
        "The fall, in percent, of the US-dollar value of ROK exports to mainland China (Korea "
        "Customs Service data) in months 1-12 after Day 0 compared with the 12 months before "
        "Day 0. A rise resolves as 0.",
        unit="%", lower=0, upper=100, step=1, centre=20, spread=9,
    ),
    # --- Invasion ----------------------------------------------------------------------
    _binary(
        "IN01", "invasion", "ROK", "force-posture",
        "Will South Korea let US Forces Korea units or assets deploy off the peninsula for the "
        "Taiwan conflict within 30 days of Day 0?",
        "Yes if, by Day 30, USFK aircraft, air and missile defence batteries or other units are "
        "moved from the ROK to support operations in the Taiwan conflict and the ROK "
        "government consents publicly or does not formally object (a formal objection is a "
        "statement by the President's Office or the Ministry of National Defense opposing the "
        "move). Routine rotations do not count.",
        mu=-0.3, gap=1.6, kappa=0.85,
    ),
    _binary(
        "IN02", "invasion", "ROK", "logistics",
        "Will South Korea provide rear-area \"retrograde and reconstitute\" support to US forces "
        "fighting over Taiwan within 60 days of Day 0?",
        "Yes if, by Day 60, US ships, aircraft or units engaged in the Taiwan conflict are "
        "repaired, refuelled, rearmed or resupplied at ROK ports, airfields, depots or fuel "
        "facilities with the ROK government's knowledge, as confirmed by either government or "
        "by credible reporting. Support limited to US forces assigned to the defence of Korea "
        "does not count.",
        mu=0.2, gap=1.4, kappa=0.85,
    ),
    _binary(
        "IN03", "invasion", "ROK", "humanitarian",
        "Will South Korean hospitals receive US military casualties from the Taiwan conflict "
        "within 60 days of Day 0?",
        _MEDEVAC, mu=1.3, kappa=0.45,
    ),
    _binary(
        "IN04", "invasion", "ROK", "humanitarian",
        "Will South Korea take part in a noncombatant evacuation of foreign nationals from "
        "Taiwan within 30 days of Day 0?",
        _NEO, mu=1.0, kappa=0.45,
    ),
    _binary(
        "IN05", "invasion", "ROK", "economic",
        "Will South Korea join multilateral sanctions against China within 60 days of Day 0?",
        _SANCTIONS.format(what="invasion"), mu=-0.3, gap=1.0,
    ),
    _binary(
        "IN06", "invasion", "ROK", "diplomatic",
        "Will the South Korean government issue a statement naming China and criticising the "
        "attack on Taiwan within 7 days of Day 0?",
        _STATEMENT.format(what="attack on Taiwan"), mu=0.6, gap=0.8,
    ),
    _binary(
        "IN07", "invasion", "ROK", "military",
        "Will South Korean forces take part in combat operations against the PLA within 90 "
        "days of Day 0?",
        "Yes if, by Day 90, ROK Navy, Air Force or Army units engage PLA forces, or deploy to "
        "the Taiwan theatre on a mission that includes the use of force against the PLA, as "
        "announced by the ROK government. Self-defence against PLA forces in or near Korean "
        "territory also counts.",
        mu=-2.3, gap=1.0,
    ),
    _binary(
        "IN08", "invasion", "ROK", "defense-industrial",
        "Will South Korea supply munitions to US forces for use in the Taiwan conflict within "
        "90 days of Day 0?",
        "Yes if, by Day 90, the ROK government approves the transfer, sale or loan of artillery "
        "shells, missiles or other munitions to US forces and either government acknowledges "
        "that they are linked to the Taiwan conflict (including to replenish US stocks used "
        "there).",
        mu=0.0, gap=0.8,
    ),
    _binary(
        "IN09", "invasion", "Japan", "access",
        "Will Japan consent to US combat operations in the Taiwan conflict being launched from "
        "US bases in Japan within 7 days of Day 0?",
        "Yes if, by Day 7, the Japanese government gives its consent under the prior "
        "consultation arrangement of the 1960 US-Japan security treaty, or confirms publicly "
        "that US combat sorties or sailings from bases in Japan proceed with its agreement.",
        mu=1.7,
    ),
    _binary(
        "IN10", "invasion", "Japan", "military",
        "Will the Japan Self-Defense Forces use force in the Taiwan conflict within 30 days of "
        "Day 0?",
        "Yes if, by Day 30, the Japanese Cabinet recognises a survival-threatening situation "
        "or an armed attack situation and JSDF units use force against PLA forces, as "
        "announced by the Japanese government.",
        mu=0.3, kappa=0.85,
    ),
    _binary(
        "IN11", "invasion", "Australia", "military",
        "Will Australia commit naval or air forces to operations in the Taiwan conflict within "
        "30 days of Day 0?",
        "Yes if, by Day 30, the Australian government announces that ADF ships, submarines or "
        "aircraft are assigned to US-led or combined operations in the Taiwan conflict, in "
        "combat or combat support (surveillance and air-to-air refuelling count).",
        mu=0.8,
    ),
    _binary(
        "IN12", "invasion", "Philippines", "access",
        "Will the Philippines let US forces conduct combat operations from EDCA sites within "
        "14 days of Day 0?",
        "Yes if, by Day 14, the Philippine government confirms, or credible reporting shows "
        "without a Philippine denial, that US aircraft, missile units or other forces conduct "
        "combat operations in the Taiwan conflict from one or more EDCA sites.",
        mu=0.8,
    ),
    _binary(
        "IN13", "invasion", "DPRK", "provocation",
        "Will North Korea launch an ICBM-class missile or conduct a nuclear test within 30 days "
        "of Day 0?",
        "Yes if, by Day 30, the ROK Joint Chiefs of Staff, Japan's Ministry of Defense or the "
        "US government report a North Korean launch of an intercontinental-range ballistic "
        "missile (a lofted trajectory counts) or a nuclear explosive test.",
        mu=0.6, kappa=0.8,
    ),
    _binary(
        "IN14", "invasion", "DPRK", "provocation",
        "Will North Korea attack South Korean forces or territory within 90 days of Day 0?",
        _DPRK_ATTACK.format(day=90), mu=-1.4, gap=-0.8, kappa=0.8,
    ),
    _binary(
        "IN15", "invasion", "US", "reassurance",
        "Will the United States send a strategic asset to South Korea as a visible reassurance "
        "signal within 30 days of Day 0?",
        "Yes if, by Day 30, a US ballistic-missile submarine visits an ROK port, or US "
        "strategic bombers fly over or near the Korean Peninsula, as announced by either "
        "government.",
        mu=1.2,
    ),
    _numeric(
        "IN16", "invasion", "US", "force-posture",
        "How many USFK personnel will be redeployed off the Korean Peninsula for the Taiwan "
        "conflict within 90 days of Day 0?",
        "The largest number of USFK personnel reported (by the US or ROK government, or by "
        "credible reporting citing officials) to be deployed away from the peninsula in "
        "support of the Taiwan conflict at any time up to Day 90. Resolves 0 if none are.",
        unit="personnel", lower=0, upper=28500, step=100, centre=3000, spread=2200, gap=2500,
    ),
    _numeric(
        "IN17", "invasion", "ROK", "humanitarian",
        "How many wounded US service members will be admitted to hospitals in South Korea "
        "within 60 days of Day 0?",
        "The number of US military patients evacuated from the Taiwan theatre and admitted to "
        "hospitals in the ROK (USFK hospitals included) up to Day 60, as reported by the US "
        "Department of Defense or the ROK government. Fewer than 10 resolves at 10.",
        unit="patients", lower=10, upper=100000, scale=LOG, step=10, centre=800, spread=1.0,
    ),
    # --- Regional war ------------------------------------------------------------------
    _binary(
        "RW01", "regional-war", "ROK", "force-posture",
        "Will South Korea let USFK combat aircraft leave the peninsula for the Taiwan theatre "
        "within 30 days of Day 0?",
        "Yes if, by Day 30, USFK fighter or attack aircraft are redeployed from the ROK to the "
        "Taiwan theatre and the ROK government consents publicly or does not formally object. "
        "Temporary dispersal within Korea does not count.",
        mu=-1.1, gap=1.0,
    ),
    _binary(
        "RW02", "regional-war", "ROK", "access",
        "Will South Korea allow US forces to launch combat operations against the PLA from "
        "bases in South Korea within 30 days of Day 0?",
        "Yes if, by Day 30, US aircraft, ships or missile units conduct combat operations "
        "against PLA forces from bases or ports in the ROK with the ROK government's consent, "
        "stated publicly or confirmed by the US government without an ROK denial.",
        mu=-1.4, gap=1.4, kappa=0.85,
    ),
    _binary(
        "RW03", "regional-war", "ROK", "humanitarian",
        "Will South Korean hospitals receive US military casualties from the Taiwan theatre "
        "within 60 days of Day 0?",
        _MEDEVAC, mu=0.7, kappa=0.45,
    ),
    _binary(
        "RW04", "regional-war", "ROK", "maritime",
        "Will the ROK Navy patrol the Yellow Sea or the northern East China Sea together with "
        "US or Japanese forces within 30 days of Day 0?",
        "Yes if, by Day 30, the ROK Ministry of National Defense or the US Navy announces "
        "combined ROK-US or ROK-US-Japan naval patrols or operations in the Yellow (West) Sea "
        "or the northern East China Sea directed at PLA Navy activity. Exercises scheduled "
        "before Day 0 do not count.",
        mu=0.3, gap=0.8,
    ),
    _binary(
        "RW05", "regional-war", "Japan", "military",
        "Will the Japan Self-Defense Forces use force against PLA forces within 14 days of "
        "Day 0?",
        "Yes if, by Day 14, JSDF units use force against PLA forces, in defence of Japan or "
        "of US forces, as announced by the Japanese government.",
        mu=1.6,
    ),
    _binary(
        "RW06", "regional-war", "Australia", "military",
        "Will Australian forces take part in combat operations against the PLA within 30 days "
        "of Day 0?",
        "Yes if, by Day 30, the Australian government announces that ADF units have engaged "
        "PLA forces or are assigned to combat missions against them.",
        mu=1.3,
    ),
    _binary(
        "RW07", "regional-war", "Philippines", "access",
        "Will the Philippines allow US combat operations from Philippine territory within 14 "
        "days of Day 0?",
        "Yes if, by Day 14, the Philippine government confirms, or credible reporting shows "
        "without a Philippine denial, that US forces conduct combat operations against the "
        "PLA from bases or sites in the Philippines.",
        mu=1.1,
    ),
    _binary(
        "RW08", "regional-war", "DPRK", "provocation",
        "Will North Korea attack South Korean forces or territory within 30 days of Day 0?",
        _DPRK_ATTACK.format(day=30), mu=-0.5, gap=-0.8, kappa=0.8,
    ),
    _binary(
        "RW09", "regional-war", "US", "reassurance",
        "Will the United States announce that it is stationing nuclear weapons in South Korea "
        "within 90 days of Day 0?",
        "Yes if, by Day 90, the US government announces, or both governments confirm, that US "
        "nuclear weapons are stationed on ROK territory. Visits by submarines or bombers do "
        "not count.",
        mu=-1.7,
    ),
    _binary(
        "RW10", "regional-war", "ROK", "nuclear",
        "Will the South Korean government announce that it will develop nuclear weapons within "
        "one year of Day 0?",
        "Yes if, by Day 365, the ROK President or government announces a decision to develop "
        "nuclear weapons, or gives notice of withdrawal from the Nuclear Non-Proliferation "
        "Treaty.",
        mu=-2.0,
    ),
    _numeric(
        "RW11", "regional-war", "DPRK", "provocation",
        "On how many days will North Korea launch ballistic missiles within 90 days of Day 0?",
        "The number of separate days between Day 0 and Day 90 on which North Korea launches "
        "one or more ballistic missiles, as counted by the ROK Joint Chiefs of Staff. Fewer "
        "than one resolves at 1.",
        unit="launch days", lower=1, upper=90, scale=LOG, step=1, centre=10, spread=0.6,
    ),
    # --- Calibration (seed) questions: answers known today -----------------------------
    QuestionSpec(
        "CAL01", None, NUMERIC,
        "How many US military personnel are stationed in South Korea, by the figure that USFK "
        "and US law use?",
        "Known answer: 28,500. Source: the figure used by USFK and the US Department of "
        "Defense, and the floor below which recent National Defense Authorization Acts bar "
        "using funds to reduce US forces in Korea.",
        "US", "force-posture", unit="personnel", lower=1000, upper=200000, scale=LOG,
        step=100, centre=28500, spread=0.25, seed_answer=28500,
    ),
    QuestionSpec(
        "CAL02", None, NUMERIC,
        "How many Agreed Locations (sites open to US forces) did the US-Philippines Enhanced "
        "Defense Cooperation Agreement have at the end of 2023?",
        "Known answer: 9. Source: five sites agreed in 2016, four more announced by the two "
        "governments in February-April 2023 (US Department of Defense, 3 April 2023).",
        "Philippines", "access", unit="sites", lower=0, upper=40, step=1, centre=7,
        spread=2.5, seed_answer=9,
    ),
    QuestionSpec(
        "CAL03", None, NUMERIC,
        "What was South Korea's national defence budget for 2024, as passed by the National "
        "Assembly, in trillion won?",
        "Known answer: 59.4 trillion won (59.42). Source: ROK Ministry of National Defense, "
        "2024 budget, up 4.2 % on 2023.",
        "ROK", "defense-budget", unit="trillion KRW", lower=5, upper=500, scale=LOG,
        step=0.1, centre=56, spread=0.2, seed_answer=59.4,
    ),
    QuestionSpec(
        "CAL04", None, NUMERIC,
        "What share of South Korea's total exports went to China in 2023, in percent?",
        "Known answer: 19.7 %. Source: ROK Ministry of Trade, Industry and Energy / Korea "
        "International Trade Association, 2023 trade statistics; the first year below 20 % "
        "since 2004.",
        "ROK", "trade", unit="%", lower=0, upper=100, step=0.1, centre=22, spread=4,
        seed_answer=19.7,
    ),
    QuestionSpec(
        "CAL05", None, NUMERIC,
        "What share of the land area of facilities used exclusively by US forces in Japan lies "
        "in Okinawa Prefecture, in percent?",
        "Known answer: 70.3 %. Source: Okinawa Prefectural Government and Japan's Ministry of "
        "Defense (about 70.3 % in the early 2020s).",
        "Japan", "access", unit="%", lower=0, upper=100, step=1, centre=66, spread=9,
        seed_answer=70.3,
    ),
    QuestionSpec(
        "CAL06", None, NUMERIC,
        "How many nuclear explosive tests has North Korea conducted (to the end of 2024)?",
        "Known answer: 6 (October 2006, May 2009, February 2013, January 2016, September 2016, "
        "September 2017). Source: CTBTO.",
        "DPRK", "provocation", unit="tests", lower=0, upper=30, step=1, centre=6, spread=0.8,
        seed_answer=6,
    ),
    QuestionSpec(
        "CAL07", None, BINARY,
        "Did the May 2021 joint statement of Presidents Biden and Moon mention peace and "
        "stability in the Taiwan Strait?",
        "Known answer: yes. Source: the White House, US-ROK Leaders' Joint Statement, 21 May "
        "2021 (\"the importance of preserving peace and stability in the Taiwan Strait\"), the "
        "first such reference in a US-ROK leaders' statement.",
        "ROK", "diplomatic", mu=1.2, kappa=0.9, seed_answer=1.0,
    ),
    QuestionSpec(
        "CAL08", None, BINARY,
        "Did North Korea conduct a nuclear explosive test in 2023?",
        "Known answer: no. Source: CTBTO; North Korea's sixth and latest test was on 3 "
        "September 2017.",
        "DPRK", "provocation", mu=-2.2, kappa=0.8, seed_answer=0.0,
    ),
    QuestionSpec(
        "CAL09", None, BINARY,
        "Did the April 2023 Washington Declaration set up a US-ROK Nuclear Consultative "
        "Group?",
        "Known answer: yes. Source: the White House, Washington Declaration, 26 April 2023.",
        "US", "reassurance", mu=1.8, kappa=0.8, seed_answer=1.0,
    ),
)  # fmt: skip

BINARY_SPECS = tuple(spec for spec in QUESTIONS if spec.kind == BINARY)
NUMERIC_SPECS = tuple(spec for spec in QUESTIONS if spec.kind == NUMERIC)

# The cohort differences planted in the generator, US minus ROK respondents. Binary: the
# difference in mean log-odds (the brief: Americans expect more of Seoul on force posture,
# logistics, sanctions and combat; ROK respondents worry more about a North Korean attack;
# humanitarian support is seen alike, gap 0). Numeric: the shift of the median on the
# question's scale (log units for log scale). Every question not listed has gap 0.
PLANTED_COHORT_GAPS: dict[str, float] = {s.code: s.gap for s in BINARY_SPECS if s.gap}
PLANTED_NUMERIC_GAPS: dict[str, float] = {s.code: s.gap for s in NUMERIC_SPECS if s.gap}


# --- The panel ---------------------------------------------------------------------------

_US_NAMES = (
    "Emily Carter", "Daniel Brooks", "Rachel Nguyen", "Michael Hayes", "Sarah Whitman",
    "James Okafor", "Laura Bennett", "Christopher Reyes", "Megan Sullivan", "David Feldman",
    "Jennifer Park", "Thomas Avery", "Katherine Lowe", "Robert Chen", "Amanda Pierce",
    "Brian Callahan", "Nicole Foster", "Andrew Kim", "Elizabeth Moran", "Kevin Donovan",
    "Hannah Meyer", "Jonathan Price",
)  # fmt: skip
_ROK_NAMES = (
    "Kim Min-jun", "Lee Seo-yeon", "Park Ji-hoon", "Choi Eun-ji", "Jung Hyun-woo",
    "Kang Soo-jin", "Yoon Tae-ho", "Jang Mi-rae", "Lim Dong-hyun", "Han Ye-jin",
    "Oh Sung-min", "Seo Ji-woo", "Shin Jae-won", "Kwon Hye-rin", "Hwang In-su",
    "Ahn So-young", "Song Kyung-ho", "Ryu Da-eun", "Jeon Woo-jin", "Hong Na-rae",
    "Moon Sang-hoon", "Baek Yu-na",
)  # fmt: skip
# ROK panelists who asked for the Korean interface.
_KOREAN_SPEAKERS = frozenset(
    {"Park Ji-hoon", "Jang Mi-rae", "Oh Sung-min", "Hwang In-su", "Song Kyung-ho", "Moon Sang-hoon"}
)


@dataclass(frozen=True)
class ExpertSpec:
    code: str
    name: str
    email: str
    nationality: str
    sector: str
    language: str
    sim_index: int  # the row of this expert in simulate_binary_panel's output


def _email(name: str, nationality: str) -> str:
    if nationality == "ROK":  # "Kim Min-jun" -> "minjun.kim"
        family, given = name.split(" ", 1)
        return f"{given.replace('-', '').lower()}.{family.lower()}@example.org"
    given, family = name.split(" ", 1)
    return f"{given.lower()}.{family.lower()}@example.org"


def demo_panel() -> list[ExpertSpec]:
    """The 44 panelists in code order; fixed, whatever the answer seed."""
    people = [
        (name, nationality, SECTORS[k % len(SECTORS)], k)
        for nationality, names in (("US", _US_NAMES), ("ROK", _ROK_NAMES))
        for k, name in enumerate(names)
    ]
    # Codes are shuffled once and for all so that they reveal neither cohort nor sector.
    order = np.random.default_rng(20250331).permutation(len(people))
    panel = []
    for number, index in enumerate(order, start=1):
        name, nationality, sector, k = people[index]
        panel.append(
            ExpertSpec(
                code=f"E{number:03d}",
                name=name,
                email=_email(name, nationality),
                nationality=nationality,
                sector=sector,
                language="ko" if name in _KOREAN_SPEAKERS else "en",
                # simulate_binary_panel puts the first cohort's experts first.
                sim_index=k if nationality == "US" else len(_US_NAMES) + k,
            )
        )
    return panel


# --- Rationales ---------------------------------------------------------------------------

_CAPITALS = {
    "ROK": "Seoul",
    "Japan": "Tokyo",
    "Australia": "Canberra",
    "Philippines": "Manila",
    "DPRK": "Pyongyang",
    "US": "Washington",
}
_LEADS = {
    "yes": ("Likely.", "More likely than not.", "I expect so.", "Probably.", ""),
    "mid": (
        "Hard to call.",
        "Could go either way.",
        "Genuinely uncertain.",
        "Roughly a coin flip.",
    ),
    "no": ("Unlikely.", "I doubt it.", "I would be surprised.", "Not within this window."),
}
_REASONS = {
    "force-posture": {
        "yes": (
            "Seoul would not formally block a move Washington calls essential, whatever it "
            "says in private.",
            "Once US losses mount, the case for pulling USFK air assets becomes hard to resist.",
            "The 2006 strategic flexibility understanding leaves Seoul little formal leverage.",
        ),
        "no": (
            "Any drawdown on the peninsula in a crisis would be politically toxic in Seoul.",
            "North Korea comes first; Seoul will insist USFK stays focused on deterrence at home.",
            "USFK is not built for a Taiwan fight, so Washington may not even ask.",
        ),
    },
    "logistics": {
        "yes": (
            "Korean ports, depots and fuel storage are too useful for the US to do without.",
            "Rear-area support can be framed as alliance business as usual, not joining the war.",
            "Repair and resupply through Korean facilities is the most natural contribution.",
        ),
        "no": (
            "Seoul will fear that visible support makes Korean facilities a PLA target.",
            "China's economic leverage makes even indirect support a hard sell at home.",
            "Without prior alliance planning the arrangements will not be ready in time.",
        ),
    },
    "diplomatic": {
        "yes": (
            "A statement costs little, and Seoul has already used the Taiwan Strait language.",
            "Expect messaging coordinated with Tokyo and Washington from the first days.",
            "Silence would cost more in Washington than words would cost in Beijing.",
        ),
        "no": (
            "Seoul will call for calm and restraint but avoid naming China.",
            "Expect carefully hedged language, not condemnation.",
            "Partisan divides at home make an explicit condemnation this fast unlikely.",
        ),
    },
    "economic": {
        "yes": (
            "If the G7 moves together, Seoul will not want to be the outlier.",
            "Korea joined the Russia sanctions quickly in 2022, which is a precedent.",
            "Some participation is likely, even if narrowly targeted.",
        ),
        "no": (
            "China is still Korea's largest trading partner; the exposure is enormous.",
            "The memory of the THAAD retaliation will make Seoul hesitate.",
            "Quiet non-participation is more likely than formal sanctions.",
        ),
    },
    "humanitarian": {
        "yes": (
            "Humanitarian help is the least controversial contribution and the easiest to "
            "explain to Beijing.",
            "Korean hospitals and airlift capacity make this a natural role.",
            "Seoul will be evacuating its own citizens anyway.",
        ),
        "no": (
            "Even humanitarian roles could be read in Beijing as taking sides.",
            "Capacity will be stretched if the peninsula is on alert.",
        ),
    },
    "maritime": {
        "yes": (
            "A multinational mission spreads the risk and gives political cover.",
            "Open sea lanes are a direct national interest, which makes this easy to justify.",
            "The navy has the ships and years of escort experience.",
        ),
        "no": (
            "Operating close to the PLA Navy is a line {capital} will hesitate to cross early.",
            "Ships will be kept back for home defence while the picture is unclear.",
        ),
    },
    "connectivity": {
        "yes": (
            "This is a low-visibility, high-value contribution that suits Seoul's preferences.",
            "Korean telecom firms have the capacity, and it can be done commercially.",
        ),
        "no": (
            "Hard to do quickly without prior arrangements with Taipei.",
            "Seoul will avoid anything that looks like direct support to Taiwan.",
        ),
    },
    "access": {
        "yes": (
            "{capital} is unlikely to refuse Washington at the decisive moment.",
            "Refusing access would undercut the alliance when it matters most.",
            "The basing arrangements exist for exactly this kind of contingency.",
        ),
        "no": (
            "{capital} will want to avoid becoming a direct target of PLA missiles.",
            "Domestic politics could push a formal decision past the deadline.",
        ),
    },
    "military": {
        "yes": (
            "{capital} would see a war over Taiwan as a direct threat to its own security.",
            "Alliance commitments and recent planning point towards taking part.",
            "Once the US is fighting, staying out becomes very costly for {capital}.",
        ),
        "no": (
            "Combat against China is a very high bar for {capital}.",
            "Expect support roles rather than combat.",
            "Legal and political constraints will slow any decision.",
        ),
    },
    "defense-industrial": {
        "yes": (
            "Korea's munitions industry has spare capacity, and the US will ask for it.",
            "Indirect transfers, as with shells for Ukraine, show a way to do it.",
        ),
        "no": (
            "Seoul has long been reluctant to send lethal aid into an active war.",
            "Stocks will be held back for the peninsula.",
        ),
    },
    "provocation": {
        "yes": (
            "Pyongyang has every incentive to exploit a distracted United States.",
            "Escalating now is a cheap way for Pyongyang to raise its price.",
            "North Korea tends to act when US attention is elsewhere.",
        ),
        "no": (
            "Beijing will probably restrain Pyongyang to keep the focus on Taiwan.",
            "Pyongyang gains more by watching and waiting than by provoking now.",
            "Real escalation would invite a response Pyongyang cannot afford.",
        ),
    },
    "reassurance": {
        "yes": (
            "Washington will move fast to reassure Seoul, and signalling is the quickest tool.",
            "The Nuclear Consultative Group gives a ready channel for this.",
        ),
        "no": (
            "Nuclear signalling in a crisis with China risks escalation; expect conventional "
            "reassurance instead.",
            "Stationing nuclear weapons in Korea is a step the US has resisted for decades.",
        ),
    },
    "nuclear": {
        "yes": (
            "Doubts about US overstretch would make the domestic case for a bomb hard to stop.",
        ),
        "no": (
            "The sanctions risk and the cost to the alliance still outweigh the pressure.",
            "Talk of a Korean bomb is popular, but a government decision is another matter.",
        ),
    },
}
# Korean panelists write in Korean about their own government's choices.
_REASONS_KO = {
    "yes": (
        "동맹 관계를 고려하면 참여 가능성이 높다고 봅니다.",
        "미국의 요청이 분명하다면 정부가 거절하기는 어려울 것입니다.",
        "비교적 부담이 적은 기여라서 충분히 가능하다고 판단합니다.",
    ),
    "mid": (
        "상황 전개에 따라 달라질 것 같아 판단하기 어렵습니다.",
        "어느 정부가 집권하고 있느냐에 따라 결과가 크게 달라질 것입니다.",
    ),
    "no": (
        "북한 위협이 여전하므로 정부는 한반도 방위에 집중할 것입니다.",
        "중국의 경제 보복을 우려해 신중하게 대응할 가능성이 큽니다.",
        "국내 정치 상황상 이 기간 안에 결정하기는 어렵다고 봅니다.",
    ),
}
# Calibration questions ask what happened, so their reasons are about memory.
_SEED_RECALL = {
    "yes": (
        "I remember this clearly.",
        "Fairly sure, from the coverage at the time.",
        "I believe so, though I have not checked.",
    ),
    "mid": ("I cannot remember for certain.", "Vaguely familiar, but I would not bet on it."),
    "no": ("I don't believe so.", "I would remember if it had.", "Pretty sure not."),
}
_NUMERIC_REASONS = {
    "seed": (
        "From memory of recent official figures.",
        "I remember the figure roughly, so the range is wide to be safe.",
        "Fairly sure about this one.",
        "A rough guess; not my area.",
        "I follow this closely, hence the narrow range.",
    ),
    "target": (
        "Depends heavily on how fast the conflict escalates.",
        "My median assumes the peninsula stays quiet.",
        "Long upper tail: if things go badly the numbers rise quickly.",
        "Anchored on past crises and adjusted upwards.",
        "Very uncertain; the range reflects that.",
    ),
}
_REVISION_REASONS = (
    "Moved towards the panel after reading the round 1 rationales.",
    "Revised: the point about China's economic leverage was persuasive.",
    "Adjusted slightly; the round 1 spread made me less confident.",
    "Unchanged in substance; I still think the panel underrates the risk.",
)


def _band(probability: float) -> str:
    return "yes" if probability >= 0.65 else "no" if probability <= 0.35 else "mid"


def _binary_rationale(spec: QuestionSpec, probability: float, language: str, rng) -> str:
    band = _band(probability)
    if spec.seed_answer is not None:
        return str(rng.choice(_SEED_RECALL[band]))
    if language == "ko" and spec.actor == "ROK":
        return str(rng.choice(_REASONS_KO[band]))
    reasons = _REASONS[spec.contribution]
    side = band if band != "mid" else ("yes", "no")[int(rng.integers(2))]
    reason = str(rng.choice(reasons[side])).format(capital=_CAPITALS[spec.actor])
    return f"{rng.choice(_LEADS[band])} {reason}".strip()


# --- Answers ------------------------------------------------------------------------------

RATIONALE_SHARE = 0.35
# Rounds 1 and 2 are complete: every invitation in them was submitted, and submitting
# needs every question answered (services.invitation_submit). Gaps show in round 3, where a
# few experts have saved part of their answers.
ROUND3_SAVERS = 7
ROUND3_OPENERS = 5
# In round 2, each answer is kept with this probability, else revised toward the round-1
# median; a revision comes with a "why I changed" reason this often.
ROUND2_KEEP_SHARE = 0.55
ROUND2_REASON_SHARE = 0.7

# Meta-predictions: asked on the questions about South Korea's contributions where the
# cohorts' beliefs differ (a planted gap), not on the others nor on seeds.
META_QUESTION_CODES = tuple(
    spec.code for spec in BINARY_SPECS if spec.gap != 0 and spec.seed_answer is None
)
# Each cohort's shared misperception of the other (its stereotype), in log-odds: what its
# experts expect the other cohort's experts to answer, minus the other cohort's actual mean
# log-odds answer. US experts think ROK respondents more forthcoming than they are; ROK
# experts think US respondents more sceptical than they are. The own cohort is roughly
# right (no shared error).
META_MISPERCEPTION = {("US", "ROK"): 0.8, ("ROK", "US"): -0.6}
META_QUESTION_SD = 0.3  # per (cohort pair, question): the stereotype varies by question
META_EXPERT_SD = 0.4  # per (expert, question, cohort predicted)
# In the open round, the share of a saver's answered meta-questions with predictions.
ROUND3_META_SHARE = 0.6


@dataclass(frozen=True)
class DemoAnswer:
    expert: str
    question: str
    probability: float | None = None
    q05: float | None = None
    q50: float | None = None
    q95: float | None = None
    rationale: str = ""
    change_reason: str = ""
    meta_predictions: dict = dataclasses.field(default_factory=dict)

    def same_answer(self, other: "DemoAnswer") -> bool:
        return (self.probability, self.q05, self.q50, self.q95) == (
            other.probability, other.q05, other.q50, other.q95
        )  # fmt: skip


@dataclass(frozen=True)
class _Calibration:
    """How an expert answers numeric questions, in units of the question's spread."""

    bias: float  # systematic offset of the median
    noise: float  # scatter of the median around the expert's belief
    width: float  # half-width of the 90 % interval; < ~1 is overconfident


def _calibration(rng) -> _Calibration:
    kind = rng.choice(["overconfident", "calibrated", "cautious"], p=[0.3, 0.5, 0.2])
    width = {"overconfident": (0.25, 0.5), "calibrated": (0.8, 1.3), "cautious": (1.5, 2.2)}
    return _Calibration(
        bias=float(rng.normal(0.0, 0.5)),
        noise=float(0.8 * np.exp(rng.normal(0.0, 0.25))),
        width=float(rng.uniform(*width[kind])),
    )


def _tidy_quantiles(spec: QuestionSpec, values) -> tuple[float, float, float]:
    """Snap to the question's step and keep 5 % < 50 % < 95 % strictly, inside the bounds."""
    step = spec.step

    def snap(x: float) -> float:
        return round(round(x / step) * step, 6)

    lower, upper = spec.lower, spec.upper
    q50 = round(min(max(snap(values[1]), lower + step), upper - step), 6)
    q05 = round(min(max(snap(values[0]), lower), q50 - step), 6)
    q95 = round(max(min(snap(values[2]), upper), q50 + step), 6)
    return q05, q50, q95


def _numeric_quantiles(spec, nationality, calibration, rng) -> tuple[float, float, float]:
    log = spec.scale == LOG
    shift = spec.gap / 2 if nationality == COHORTS[0] else -spec.gap / 2
    centre = (np.log(spec.centre) if log else spec.centre) + shift
    z50 = centre + spec.spread * (calibration.bias + calibration.noise * rng.standard_normal())
    half = 1.645 * spec.spread * calibration.width
    z = np.array([z50 - half * rng.uniform(0.7, 1.3), z50, z50 + half * rng.uniform(0.7, 1.3)])
    return _tidy_quantiles(spec, np.exp(z) if log else z)


def demo_round1_answers(panel: list[ExpertSpec], rng) -> list[DemoAnswer]:
    """Round-1 answers: binary from the model's generative story, numeric from calibrated
    and overconfident experts around the truth (seeds) or a cohort-specific centre."""
    simulated = simulate_binary_panel(
        n_experts=len(panel),
        n_questions=len(BINARY_SPECS),
        cohorts={cohort: sum(e.nationality == cohort for e in panel) for cohort in COHORTS},
        answer_rate=1.0,
        mu=np.array([spec.mu for spec in BINARY_SPECS]),
        delta=np.array([[spec.gap / 2, -spec.gap / 2] for spec in BINARY_SPECS]),
        kappa=np.array([spec.kappa for spec in BINARY_SPECS]),
        rounding=0.05,
        seed=rng,
    )
    by_sim_index = {expert.sim_index: expert for expert in panel}
    for expert in panel:  # the panel and the simulation must agree on who is in which cohort
        assert simulated.cohorts[simulated.expert_cohort[expert.sim_index]] == expert.nationality

    answers = []
    for row in simulated.judgments.itertuples(index=False):
        expert = by_sim_index[int(row.expert[1:]) - 1]
        spec = BINARY_SPECS[int(row.question[1:]) - 1]
        probability = round(float(row.probability), 2)
        rationale = ""
        if rng.random() < RATIONALE_SHARE:
            rationale = _binary_rationale(spec, probability, expert.language, rng)
        answers.append(
            DemoAnswer(expert.code, spec.code, probability=probability, rationale=rationale)
        )

    for expert in panel:
        calibration = _calibration(rng)
        for spec in NUMERIC_SPECS:
            is_seed = spec.seed_answer is not None
            q05, q50, q95 = _numeric_quantiles(spec, expert.nationality, calibration, rng)
            rationale = ""
            if rng.random() < RATIONALE_SHARE * 0.7:
                rationale = str(rng.choice(_NUMERIC_REASONS["seed" if is_seed else "target"]))
            answers.append(
                DemoAnswer(expert.code, spec.code, q05=q05, q50=q50, q95=q95, rationale=rationale)
            )
    return answers


def _revise_towards(answer: DemoAnswer, spec: QuestionSpec, medians: dict, rng) -> DemoAnswer:
    """A round-2 answer: part of the way from the expert's round-1 answer to the panel's."""
    pull = rng.uniform(0.1, 0.5)
    rationale = str(rng.choice(_REVISION_REASONS)) if rng.random() < 0.4 else ""
    if spec.kind == BINARY:
        own = logit(np.clip(answer.probability, 0.005, 0.995))
        moved = float(expit(own + pull * (medians[spec.code] - own)))
        return DemoAnswer(
            answer.expert,
            spec.code,
            probability=round(round(moved / 0.05) * 0.05, 2),
            rationale=rationale,
        )
    log = spec.scale == LOG
    own = (
        np.log([answer.q05, answer.q50, answer.q95])
        if log
        else np.array([answer.q05, answer.q50, answer.q95])
    )
    target = np.log(medians[spec.code]) if log else medians[spec.code]
    moved = own + pull * (target - own[1])  # shift the whole interval, keep its width
    q05, q50, q95 = _tidy_quantiles(spec, np.exp(moved) if log else moved)
    return DemoAnswer(answer.expert, spec.code, q05=q05, q50=q50, q95=q95, rationale=rationale)


def _medians(previous: list[DemoAnswer], specs: dict) -> dict[str, float]:
    """Each question's median answer: log-odds for probabilities, the median's value else."""
    medians = {}
    for code, spec in specs.items():
        mine = [a for a in previous if a.question == code]
        if spec.kind == BINARY:
            medians[code] = float(
                np.median(logit(np.clip([a.probability for a in mine], 0.005, 0.995)))
            )
        else:
            medians[code] = float(np.median([a.q50 for a in mine]))
    return medians


def demo_round2_answers(round1: list[DemoAnswer], panel: list[ExpertSpec], rng) -> list[DemoAnswer]:
    """Complete round-2 answers: each kept, or revised part of the way toward the round-1
    median, often with a reason (in Korean from the Korean speakers)."""
    specs = {spec.code: spec for spec in QUESTIONS if spec.seed_answer is None}
    medians = _medians(round1, specs)
    language = {expert.code: expert.language for expert in panel}
    answers = []
    for answer in round1:
        if answer.question not in specs:
            continue
        if rng.random() < ROUND2_KEEP_SHARE:
            answers.append(answer)
            continue
        revised = _revise_towards(answer, specs[answer.question], medians, rng)
        if revised.same_answer(answer):  # the move was lost in the rounding: a keep
            answers.append(answer)
            continue
        reason = ""
        if rng.random() < ROUND2_REASON_SHARE:
            reasons = demo_ko.REVISION_REASONS_KO if language[answer.expert] == "ko" else (
                _REVISION_REASONS[:3]
            )  # fmt: skip
            reason = str(rng.choice(reasons))
        answers.append(
            DemoAnswer(
                answer.expert, answer.question, revised.probability, revised.q05,
                revised.q50, revised.q95, rationale=answer.rationale, change_reason=reason,
            )
        )  # fmt: skip
    return answers


def demo_partial_revisions(previous: list[DemoAnswer], experts: list[str], rng) -> list[DemoAnswer]:
    """Partial answers saved (not submitted) by ``experts`` in the open round."""
    specs = {spec.code: spec for spec in QUESTIONS if spec.seed_answer is None}
    medians = _medians(previous, specs)
    answers = []
    for code in experts:
        share = rng.uniform(0.25, 0.75)
        for answer in previous:
            if answer.expert == code and answer.question in specs and rng.random() < share:
                answers.append(_revise_towards(answer, specs[answer.question], medians, rng))
    return answers


def _cohort_mean_log_odds(answers: list[DemoAnswer], nationality: dict) -> dict:
    """{(question, cohort): the cohort's mean log-odds answer}, clipped as the model clips."""
    values = defaultdict(list)
    for answer in answers:
        if answer.probability is not None:
            values[answer.question, nationality[answer.expert]].append(answer.probability)
    return {
        key: float(np.mean(logit(np.clip(probabilities, 0.005, 0.995))))
        for key, probabilities in values.items()
    }


def demo_meta_stereotypes(rng) -> dict[tuple[str, str, str], float]:
    """{(by, of, question): s_gc + u_gcj}, the shared error of cohort ``by`` about cohort
    ``of`` on a question (0 about itself): drawn once, for every round."""
    return {
        (by, of, code): META_MISPERCEPTION.get((by, of), 0.0)
        + (float(rng.normal(0.0, META_QUESTION_SD)) if by != of else 0.0)
        for code in META_QUESTION_CODES
        for by in COHORTS
        for of in COHORTS
    }


def demo_meta_predictions(
    answers: list[DemoAnswer],
    panel: list[ExpertSpec],
    rng,
    *,
    stereotypes: dict,
    actual: list[DemoAnswer] = (),
    share: float = 1.0,
) -> list[DemoAnswer]:
    """``answers`` with meta-predictions on the questions of ``META_QUESTION_CODES``.

    Expert i of cohort g predicts cohort c's average answer to question j as

        logit(prediction) = m_cj + s_gc + u_gcj + e_icj,

    m_cj the mean log-odds of cohort c's answers (of ``actual``, by default ``answers``),
    s_gc the shared misperception (``META_MISPERCEPTION``, 0 for the own cohort),
    u_gcj ~ N(0, META_QUESTION_SD) (other cohorts only; ``stereotypes`` holds s + u),
    e_icj ~ N(0, META_EXPERT_SD);
    rounded to a percent and kept within 1-99 %. ``share``: the chance that an answer gets
    them at all (1 in a closed round, less for the partial answers of an open one).
    """
    nationality = {expert.code: expert.nationality for expert in panel}
    means = _cohort_mean_log_odds(list(actual) or answers, nationality)
    given = []
    for answer in answers:
        if answer.question not in META_QUESTION_CODES or rng.random() >= share:
            given.append(answer)
            continue
        by = nationality[answer.expert]
        predictions = {}
        for of in COHORTS:
            log_odds = means[answer.question, of] + stereotypes[by, of, answer.question]
            log_odds += float(rng.normal(0.0, META_EXPERT_SD))
            predictions[of] = round(float(np.clip(expit(log_odds), 0.01, 0.99)), 2)
        given.append(dataclasses.replace(answer, meta_predictions=predictions))
    return given


# --- Loading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSurvey:
    survey: Survey
    closed_round: Round  # round 1
    second_round: Round  # round 2, closed, with revisions
    open_round: Round  # round 3
    organizer: AbstractUser
    admin: AbstractUser
    created: bool

    @property
    def featured_invitation(self) -> Invitation:
        """The open-round invitation whose link `load_demo` prints."""
        return Invitation.objects.select_related("expert__user", "survey_round").get(
            survey_round=self.open_round, expert__code=DEMO_EXPERT_CODE
        )

    @property
    def korean_invitation(self) -> Invitation:
        """The open-round invitation of the Korean-speaking demo expert."""
        return Invitation.objects.select_related("expert__user", "survey_round").get(
            survey_round=self.open_round, expert__code=demo_korean_expert_code()
        )


def demo_korean_expert_code() -> str:
    """The first Korean-speaking panelist, by code (fixed: the panel does not depend on seed)."""
    return next(expert.code for expert in demo_panel() if expert.language == "ko")


def _user_ensure(*, username: str, superuser: bool, staff: bool = True):
    """The demo login; its password is set only when the account is new."""
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={"email": f"{username}@example.org", "is_staff": staff, "is_superuser": superuser},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def demo_load(*, seed: int = DEMO_SEED) -> DemoSurvey:
    """Load the demo survey, panel and answers once; later calls return what is there."""
    with transaction.atomic():
        organizer = _user_ensure(username=DEMO_ORGANIZER_USERNAME, superuser=False)
        admin = _user_ensure(username=DEMO_ADMIN_USERNAME, superuser=True)
        survey = Survey.objects.filter(title=DEMO_SURVEY_TITLE).order_by("id").first()
        created = survey is None
        if created:
            survey = _survey_build(
                rng=np.random.default_rng(seed),
                # A stream of its own, so the answers are those the demo had without them.
                meta_rng=np.random.default_rng([seed, 15]),
                now=timezone.now(),
            )
        survey.organizers.add(organizer)
        analyst = _user_ensure(username=DEMO_ANALYST_USERNAME, superuser=False, staff=False)
        analyst.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
        survey.analysts.add(analyst)
        rounds = {r.number: r for r in survey.rounds.all()}
        # The closed rounds' reports: fitted by a worker (the requests are idempotent).
        for closed in (rounds[1], rounds[2]):  # as closing them would (idempotent)
            aggregation_runs_request_for_closed_round(survey_round=closed)
    return DemoSurvey(survey, rounds[1], rounds[2], rounds[3], organizer, admin, created)


@dataclass(frozen=True)
class _Timeline:
    survey_created: datetime
    round1_opened: datetime
    round1_closed: datetime
    round2_opened: datetime
    round2_closed: datetime
    round3_opened: datetime
    round3_closes: datetime
    now: datetime


def _timeline(now: datetime) -> _Timeline:
    now = now.replace(second=0, microsecond=0)
    return _Timeline(
        survey_created=now - timedelta(days=60),
        round1_opened=now - timedelta(days=50),
        round1_closed=now - timedelta(days=33),
        round2_opened=now - timedelta(days=30),
        round2_closed=now - timedelta(days=8),
        round3_opened=now - timedelta(days=3),
        round3_closes=now + timedelta(days=18),
        now=now,
    )


def _survey_build(*, rng, meta_rng, now: datetime) -> Survey:
    # The survey, its questions and panel go through the services, so the demo obeys the
    # same validation as an organizer's import; rounds and answers are history, written
    # directly (the services only write to open rounds, and would email the panel).
    times = _timeline(now)
    survey = survey_create(
        title=DEMO_SURVEY_TITLE, background=BACKGROUND, contact_email=DEMO_CONTACT_EMAIL,
        title_ko=demo_ko.TITLE_KO, background_ko=demo_ko.BACKGROUND_KO,
        meta_predictions=Survey.MetaPredictions.OPTIONAL,
    )  # fmt: skip
    scenarios = {
        spec.code: scenario_create(
            survey=survey, code=spec.code, title=spec.title, description=spec.description,
            position=position, title_ko=demo_ko.SCENARIOS_KO[spec.code][0],
            description_ko=demo_ko.SCENARIOS_KO[spec.code][1],
        )
        for position, spec in enumerate(SCENARIOS, start=1)
    }  # fmt: skip
    questions = _questions_create(survey, scenarios)
    panel = demo_panel()
    experts = _experts_create(survey, panel)
    round1, round2, round3 = _rounds_create(survey, questions, times)

    answers1 = demo_round1_answers(panel, rng)
    answers2 = demo_round2_answers(answers1, panel, rng)
    featured = {DEMO_EXPERT_CODE, demo_korean_expert_code()}  # fresh forms in round 3
    candidates = [e.code for e in panel if e.code not in featured]
    savers = sorted(rng.choice(candidates, size=ROUND3_SAVERS, replace=False))
    others = sorted(set(candidates) - set(savers))
    openers = sorted(rng.choice(others, size=ROUND3_OPENERS, replace=False))
    answers3 = demo_partial_revisions(answers2, savers, rng)
    stereotypes = demo_meta_stereotypes(meta_rng)
    answers2 = demo_meta_predictions(answers2, panel, meta_rng, stereotypes=stereotypes)
    answers3 = demo_meta_predictions(
        answers3, panel, meta_rng, stereotypes=stereotypes, actual=answers2,
        share=ROUND3_META_SHARE,
    )  # fmt: skip

    window1 = (times.round1_opened, times.round1_closed)
    window2 = (times.round2_opened, times.round2_closed)
    invitations1 = _invitations_submitted(experts, round1, window1, rng)
    invitations2 = _invitations_submitted(experts, round2, window2, rng)
    invitations3 = _invitations_open(experts, round3, times, [*savers, *openers], rng)
    _judgments_write(answers1, round1, experts, questions, invitations1, rng, drafts=0.06)
    _judgments_write(answers2, round2, experts, questions, invitations2, rng, drafts=0.0)
    _judgments_write(answers3, round3, experts, questions, invitations3, rng, drafts=0.0)
    _consent_create(survey, times, invitations1, invitations3, savers)

    # auto_now_add stamps "now" on insert; backdate so the demo reads as a study in progress.
    Survey.objects.filter(pk=survey.pk).update(created_at=times.survey_created)
    Expert.objects.filter(survey=survey).update(created_at=times.survey_created + timedelta(days=2))
    for survey_round, opened in ((round1, times.round1_opened), (round2, times.round2_opened),
                                 (round3, times.round3_opened)):  # fmt: skip
        Invitation.objects.filter(survey_round=survey_round).update(created_at=opened)
    return survey


def _questions_create(survey: Survey, scenarios: dict) -> dict[str, Question]:
    seed_guidance = "Calibration question: please answer from memory, without looking it up."
    questions = [
        question_create(
            survey=survey,
            scenario=scenarios.get(spec.scenario),
            code=spec.code,
            text=spec.text,
            guidance=spec.guidance or (seed_guidance if spec.seed_answer is not None else ""),
            text_ko=demo_ko.QUESTIONS_KO.get(spec.code, ""),
            unit_ko=demo_ko.UNITS_KO.get(spec.unit, "")
            if spec.code in demo_ko.QUESTIONS_KO
            else "",
            resolution_criteria_ko=demo_ko.RESOLUTION_KO.get(spec.code, ""),
            kind=spec.kind,
            unit=spec.unit,
            lower_bound=spec.lower,
            upper_bound=spec.upper,
            scale=spec.scale,
            resolution_criteria=spec.resolution,
            tags=spec.tags,
            is_seed=spec.seed_answer is not None,
            seed_answer=spec.seed_answer,
            position=position,
            asks_meta_predictions=spec.code in META_QUESTION_CODES,
        )
        for position, spec in enumerate(QUESTIONS, start=1)
    ]
    return {q.code: q for q in questions}


def _experts_create(survey: Survey, panel: list[ExpertSpec]) -> dict[str, Expert]:
    """Each expert with the password-less user that carries their magic-link tokens."""
    experts = [
        expert_create(
            survey=survey, code=spec.code, name=spec.name, email=spec.email,
            language=spec.language,
            time_zone="Asia/Seoul" if spec.nationality == "ROK" else "America/New_York",
            attributes={"nationality": spec.nationality, "sector": spec.sector},
        )
        for spec in panel
    ]  # fmt: skip
    return {e.code: e for e in experts}


def _consent_create(survey: Survey, times: _Timeline, invitations1, invitations3, savers):
    """Version 1 accepted by all in round 1; version 2, before round 3, by its savers."""
    v1 = ConsentVersion.objects.create(survey=survey, number=1, text=CONSENT, text_ko=CONSENT_KO)
    v2 = ConsentVersion.objects.create(
        survey=survey, number=2, text=CONSENT_V2, text_ko=CONSENT_V2_KO
    )
    ConsentVersion.objects.filter(id=v1.id).update(created_at=times.survey_created)
    ConsentVersion.objects.filter(id=v2.id).update(
        created_at=times.round3_opened - timedelta(days=1)
    )
    responses = [
        ConsentResponse(expert=i.expert, version=v1, invitation=i, accepted=True,
                        at=i.first_opened_at)
        for i in invitations1.values()
    ] + [
        ConsentResponse(expert=invitations3[code].expert, version=v2,
                        invitation=invitations3[code], accepted=True,
                        at=invitations3[code].first_opened_at)
        for code in savers
    ]  # fmt: skip
    ConsentResponse.objects.bulk_create(responses)


def _rounds_create(survey: Survey, questions: dict, times: _Timeline) -> tuple[Round, ...]:
    round1 = Round.objects.create(
        survey=survey, number=1, status=Round.Status.CLOSED,
        opens_at=times.round1_opened, closes_at=times.round1_closed,
        opened_at=times.round1_opened, closed_at=times.round1_closed,
    )  # fmt: skip
    round2 = Round.objects.create(
        survey=survey, number=2, status=Round.Status.CLOSED, feedback_round=round1,
        opens_at=times.round2_opened, closes_at=times.round2_closed,
        opened_at=times.round2_opened, closed_at=times.round2_closed,
    )  # fmt: skip
    round3 = Round.objects.create(
        survey=survey, number=3, status=Round.Status.OPEN, feedback_round=round2,
        opens_at=times.round3_opened, closes_at=times.round3_closes,
        opened_at=times.round3_opened, show_cohorts=True,
    )  # fmt: skip
    round1.questions.set(questions.values())
    # Later rounds revisit the scenario questions; seeds are asked once, before any feedback.
    for later in (round2, round3):
        later.questions.set([q for q in questions.values() if not q.is_seed])
    return round1, round2, round3


def _at(start: datetime, end: datetime, rng) -> datetime:
    """A moment between start and end, to the second."""
    seconds = max(int((end - start).total_seconds()), 1)
    return start + timedelta(seconds=int(rng.integers(seconds)))


def _invitations_submitted(experts: dict, survey_round: Round, window, rng) -> dict:
    """A closed round's invitations: every expert opened and submitted within ``window``."""
    opened_at, closed_at = window
    sent = opened_at + timedelta(minutes=5)
    rows = []
    for expert in experts.values():
        opened = _at(sent, sent + timedelta(days=10), rng)
        submitted = _at(opened + timedelta(hours=1), closed_at - timedelta(hours=2), rng)
        rows.append(
            Invitation(
                expert=expert, survey_round=survey_round, sent_at=sent, first_opened_at=opened,
                submitted_at=submitted, expires_at=closed_at + timedelta(days=30),
            )
        )  # fmt: skip
    return {i.expert.code: i for i in Invitation.objects.bulk_create(rows)}


def _invitations_open(experts: dict, survey_round: Round, times: _Timeline, opened_by, rng):
    sent = times.round3_opened + timedelta(minutes=5)
    rows = [
        Invitation(
            expert=expert, survey_round=survey_round, sent_at=sent,
            first_opened_at=_at(sent, times.now - timedelta(hours=3), rng)
            if expert.code in opened_by
            else None,
            expires_at=times.round3_closes + timedelta(days=7),
        )
        for expert in experts.values()
    ]  # fmt: skip
    return {i.expert.code: i for i in Invitation.objects.bulk_create(rows)}


def _sessions(invitation: Invitation, rng) -> tuple[datetime, datetime]:
    """When the expert first saved answers, and when they last did (before submitting)."""
    first = invitation.first_opened_at + timedelta(minutes=int(rng.integers(2, 20)))
    if invitation.submitted_at is None:
        return first, first + timedelta(minutes=int(rng.integers(5, 90)))
    return first, invitation.submitted_at - timedelta(minutes=int(rng.integers(1, 30)))


def _judgments_write(answers, survey_round, experts, questions, invitations, rng, drafts):
    """Judgments and their history; a share ``drafts`` of them was first saved differently.

    An expert saves in two sittings: drafted answers are created in the first and changed
    in the second, the rest are created in the second.
    """
    sessions = {
        code: _sessions(invitation, rng)
        for code, invitation in invitations.items()
        if invitation.first_opened_at is not None
    }
    judgments = Judgment.objects.bulk_create(
        [
            Judgment(
                expert=experts[a.expert], question=questions[a.question],
                survey_round=survey_round, probability=a.probability,
                q05=a.q05, q50=a.q50, q95=a.q95, rationale=a.rationale,
                change_reason=a.change_reason, meta_predictions=a.meta_predictions,
            )
            for a in answers
        ],
        batch_size=500,
    )  # fmt: skip
    revisions, judgment_times, revision_times = [], defaultdict(list), []
    for judgment in judgments:
        first, last = sessions[judgment.expert.code]
        created = last
        if judgment.probability is not None and rng.random() < drafts:
            # An earlier draft, changed before submitting: the history shows both.
            change = rng.choice([-0.2, -0.1, 0.1, 0.2])
            earlier = round(float(np.clip(judgment.probability + change, 0, 1)), 2)
            revisions.append(JudgmentRevision(judgment=judgment, probability=earlier))
            revision_times.append(first)
            created = first
        revisions.append(
            JudgmentRevision(
                judgment=judgment, probability=judgment.probability, q05=judgment.q05,
                q50=judgment.q50, q95=judgment.q95, rationale=judgment.rationale,
                change_reason=judgment.change_reason,
                meta_predictions=judgment.meta_predictions,
            )
        )  # fmt: skip
        revision_times.append(last)
        judgment_times[created, last].append(judgment.pk)
    revisions = JudgmentRevision.objects.bulk_create(revisions, batch_size=500)

    # auto_now_add stamps the insert time; backdate with one UPDATE per sitting.
    for (created, updated), ids in judgment_times.items():
        Judgment.objects.filter(pk__in=ids).update(created_at=created, updated_at=updated)
    by_time = defaultdict(list)
    for revision, stamp in zip(revisions, revision_times, strict=True):
        by_time[stamp].append(revision.pk)
    for stamp, ids in by_time.items():
        JudgmentRevision.objects.filter(pk__in=ids).update(created_at=stamp)
