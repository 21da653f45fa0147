"""The demo survey's content: logins, texts, scenarios and questions, each question with
the parameters its synthetic answers are drawn from. Pure data: no Django.

Everything here is demonstration data. The questions are ours, written from the public
summary of KEI's "Siloed No More" study (``shared/brief/``). The Korean texts of the survey
are in ``elicitation.demo_ko``.
"""

from dataclasses import dataclass

import numpy as np

DEMO_SURVEY_TITLE = "Allied contributions in a Taiwan conflict"
DEMO_PASSWORD = "consilium-demo"
DEMO_ORGANIZER_USERNAME = "organizer"
DEMO_ADMIN_USERNAME = "admin"
DEMO_ANALYST_USERNAME = "analyst"  # reads reports only: not staff, in the analyst group
# The expert whose personal link `load_demo` prints: no round-3 answers yet, English.
DEMO_EXPERT_CODE = "E001"
# Its Korean-speaking counterpart is panel.demo_korean_expert_code(): a ROK panelist.
DEMO_SEED = 2026
DEMO_CONTACT_EMAIL = "panel-secretariat@example.org"

COHORTS = ("US", "ROK")
SECTORS = ("government", "former official", "think tank", "academia")

# The values of Question.Kind and Question.Scale, as plain strings so that this module
# needs no Django (tests/elicitation/test_demo_generator.py holds them equal).
BINARY = "binary"
NUMERIC = "numeric"
LOG = "log"
UNIFORM = "uniform"

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


def meta_question_codes(questions) -> tuple[str, ...]:
    """The questions that ask meta-predictions: about South Korea's contributions where the
    cohorts' beliefs differ (a planted gap), not the others nor seeds."""
    return tuple(
        spec.code
        for spec in questions
        if spec.kind == BINARY and spec.gap != 0 and spec.seed_answer is None
    )


META_QUESTION_CODES = meta_question_codes(QUESTIONS)
