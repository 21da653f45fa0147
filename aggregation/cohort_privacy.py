"""Which cohorts a report may show: the anonymity rules of every page, figure and download.

Cohorts with fewer than ``settings.REPORT_MIN_COHORT_SIZE`` experts would identify people:
they never get a row, a colour or an interval of their own; their answers are drawn and
counted in one grey group, "other". An expert's bias is measured within the cohort, so it
is withheld for experts of small cohorts, and a per-expert listing withholds every cohort
when "other" itself would be small enough to point at someone.

The figures need the pure pieces (``cohort_label``, ``gaps_shown``, ``largest_gap``) without
Django, so those live in ``aggregation.engine.plots`` and are re-exported here.
"""

from django.conf import settings

from aggregation.engine.data import JudgmentTable
from aggregation.engine.plots import OTHER_COHORT, cohort_label, gaps_shown, largest_gap

__all__ = [
    "OTHER_COHORT",
    "WITHHELD_COHORT",
    "cohort_label",
    "cohort_sizes_of_result",
    "cohort_sizes_of_table",
    "cohorts_shown",
    "expert_cohort_labels",
    "experts_with_bias",
    "gaps_shown",
    "hidden_cohort_count",
    "label_cohorts",
    "largest_gap",
]

WITHHELD_COHORT = "withheld"  # per-expert cohort not shown: see expert_cohort_labels


def cohorts_shown(sizes: dict[str, int]) -> list[str]:
    """The cohorts with enough experts to be shown separately, in a stable order."""
    return sorted(c for c, n in sizes.items() if n >= settings.REPORT_MIN_COHORT_SIZE)


def expert_cohort_labels(sizes: dict[str, int]) -> dict[str, str]:
    """What a per-expert listing may print as each cohort (cohort -> label).

    Small cohorts are merged into "other"; if "other" is itself smaller than the threshold
    (one lone Japanese expert, say), printing it next to an expert code would point at that
    person, so per-expert listings withhold every expert's cohort instead.
    """
    shown = cohorts_shown(sizes)
    merged = sum(n for cohort, n in sizes.items() if cohort not in shown)
    if 0 < merged < settings.REPORT_MIN_COHORT_SIZE:
        return dict.fromkeys(sizes, WITHHELD_COHORT)
    return {cohort: cohort_label(cohort, shown) for cohort in sizes}


def cohort_sizes_of_table(table: JudgmentTable) -> dict[str, int]:
    experts = table.frame.drop_duplicates("expert")
    return {str(c): int(n) for c, n in experts.groupby("cohort").size().items()}


def cohort_sizes_of_result(result: dict) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for expert in (result.get("experts") or {}).values():
        sizes[expert["cohort"]] = sizes.get(expert["cohort"], 0) + 1
    return sizes


def hidden_cohort_count(result: dict, shown: list[str]) -> int:
    return sum(1 for cohort in cohort_sizes_of_result(result) if cohort not in shown)


def experts_with_bias(result: dict, shown: list[str]) -> list[str]:
    """Experts whose bias may be shown: it is measured within the cohort (zero-sum), so it is
    left out for experts of small cohorts (a cohort of one has none; of two, it pairs them)."""
    return [
        code
        for code, expert in (result.get("experts") or {}).items()
        if expert.get("bias") and expert["cohort"] in shown
    ]


def label_cohorts(answers: list[dict], labels: dict[str, str]) -> list[dict]:
    """Each answer's ``cohort`` replaced by what a per-expert listing may print."""
    for answer in answers:
        answer["cohort"] = labels.get(answer["cohort"], WITHHELD_COHORT)
    return answers
