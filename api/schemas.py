"""What the API returns: plain shapes of the rows the report pages show."""

from datetime import datetime

from ninja import Schema


class SurveyOut(Schema):
    id: int
    title: str
    title_ko: str
    anonymity: str
    cohort_attribute: str
    created_at: datetime


class RoundOut(Schema):
    id: int
    survey_id: int
    number: int
    status: str
    opens_at: datetime | None
    closes_at: datetime | None
    opened_at: datetime | None
    closed_at: datetime | None


class QuestionOut(Schema):
    id: int
    code: str
    kind: str
    text: str
    text_ko: str
    guidance: str
    guidance_ko: str
    unit: str
    unit_ko: str
    resolution_criteria: str
    resolution_criteria_ko: str
    lower_bound: float | None
    upper_bound: float | None
    scale: str
    scenario: str | None
    is_seed: bool


class RunOut(Schema):
    id: int
    round_id: int
    method: str
    status: str
    progress_phase: str
    progress: float
    options: dict
    data_hash: str
    n_judgments: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    diagnostics: dict
    error: str
    # Its answers were partly erased at an expert's request after it ran (the numbers stay).
    built_on_erased_data: bool
    report_url: str


class RunDetailOut(RunOut):
    result: dict | None
    downloads: dict[str, str]


class QuestionResultOut(Schema):
    question_id: int
    code: str
    n_judgments: int
    consensus: float
    consensus_lower: float | None
    consensus_upper: float | None
    disagreement: float | None
    disagreement_lower: float | None
    disagreement_upper: float | None
    cohorts: dict
    cohort_gaps: list
    baselines: dict


class RunRequestIn(Schema):
    method: str = "hierarchical"
    random_seed: int | None = None


class RunRequestOut(Schema):
    created: bool
    run: RunOut


class ErrorOut(Schema):
    detail: str
