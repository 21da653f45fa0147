"""CSV import of questions and of experts: decode, preview with per-row errors, apply.

Nothing is imported when any row is bad: ``*_import`` re-validates the whole file inside
one transaction and raises ``ImportRefused`` with the same errors the preview showed.
"""

import csv
import io
import math
import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from elicitation import services
from elicitation.models import Expert, ExpertContact, Question, Scenario, Survey

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000

QUESTION_REQUIRED = ("code", "text", "kind")
QUESTION_OPTIONAL = (
    "scenario",
    "scenario_title",
    "scenario_title_ko",
    "text_ko",
    "guidance",
    "guidance_ko",
    "unit_ko",
    "resolution_criteria_ko",
    "unit",
    "lower_bound",
    "upper_bound",
    "scale",
    "resolution_criteria",
    "tags",
    "is_seed",
    "seed_answer",
    # Whether the question asks meta-predictions when the survey does (empty: yes).
    "asks_meta_predictions",
)
EXPERT_REQUIRED = ("name", "email")
EXPERT_OPTIONAL = ("language", "code", "time_zone")
# The Korean texts of a question (shown to experts who read Korean; English is the fallback).
KOREAN_COLUMNS = ("text_ko", "guidance_ko", "unit_ko", "resolution_criteria_ko")
# What a spreadsheet reads as the start of a formula (the downloads neutralise them).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TRUE_WORDS, FALSE_WORDS = {"1", "yes", "true", "y"}, {"0", "no", "false", "n", ""}


class CsvFileError(Exception):
    """The file as a whole cannot be read as CSV; the message says how to fix it."""


@dataclass
class RowError:
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = _("Line %(line)s") % {"line": self.line} if self.line else _("File")
        if self.column:
            where += _(", column “%(column)s”") % {"column": self.column}
        return f"{where}: {self.message}"


@dataclass
class ImportPreview:
    """What an import would do, or why it cannot."""

    text: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    new_scenarios: list[str] = field(default_factory=list)
    # Things the organizer should know before confirming; they do not stop the import.
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    @property
    def table(self) -> list[tuple[int, list[str]]]:
        """(line, values in header order) for the preview table."""
        return [(row["line"], [row.get(name, "") for name in self.columns]) for row in self.rows]


class ImportRefused(Exception):
    def __init__(self, preview: ImportPreview) -> None:
        super().__init__(f"{len(preview.errors)} errors")
        self.preview = preview


# --- Reading the file -------------------------------------------------------------------


def csv_decode(data: bytes) -> str:
    """Bytes of an uploaded file → text, or ``CsvFileError`` saying what the file is."""
    if len(data) > MAX_BYTES:
        raise CsvFileError(_("The file is larger than 2 MB. Split it into smaller files."))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvFileError(
            _("The file is UTF-16 text. Save it as “CSV UTF-8 (comma delimited)” and upload again.")
        )
    if data.startswith(b"PK\x03\x04"):
        raise CsvFileError(
            _("This is a spreadsheet workbook (.xlsx), not CSV. Save it as “CSV UTF-8” first.")
        )
    if b"\x00" in data:
        raise CsvFileError(
            _("This is a binary file, not CSV text. Upload a .csv file saved as UTF-8.")
        )
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        raise CsvFileError(
            _(
                "The file is not UTF-8 text (byte %(position)s cannot be read; Latin-1 or "
                "Windows encodings do this). Save it as “CSV UTF-8” and upload again."
            )
            % {"position": exc.start + 1}
        ) from None
    if not text.strip():
        raise CsvFileError(_("The file is empty. The first line must name the columns."))
    return text


def _read_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header (lower-cased) and (line number, fields) pairs; ``CsvFileError`` if unreadable."""
    if not text.strip():
        raise CsvFileError(_("The file is empty. The first line must name the columns."))
    first_line = text.splitlines()[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
        rows = [(reader.line_num, fields) for fields in reader if any(f.strip() for f in fields)]
    except csv.Error as exc:
        raise CsvFileError(
            _(
                "The file is not valid CSV near line %(line)s (%(error)s). Check that every "
                "value containing a comma or a quote is inside double quotes."
            )
            % {"line": reader.line_num, "error": exc}
        ) from None
    if len(rows) > MAX_ROWS:
        raise CsvFileError(_("At most %(max)s rows can be imported at once.") % {"max": MAX_ROWS})
    return header, rows


def _header_errors(header: list[str], required, optional, *, open_ended: bool) -> list[RowError]:
    errors = []
    if "" in header:
        errors.append(RowError(1, None, _("A column has no name in the header line.")))
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if duplicated:
        errors.append(
            RowError(
                1, None, _("Columns named twice: %(names)s.") % {"names": ", ".join(duplicated)}
            )
        )
    missing = [name for name in required if name not in header]
    if missing:
        errors.append(
            RowError(
                1,
                None,
                _("Missing columns: %(missing)s. The header line must name at least: %(required)s.")
                % {"missing": ", ".join(missing), "required": ",".join(required)},
            )
        )
    unknown = [name for name in header if name and name not in (*required, *optional)]
    if unknown and not open_ended:
        errors.append(
            RowError(
                1,
                None,
                _("Unknown columns: %(unknown)s. Allowed: %(allowed)s.")
                % {"unknown": ", ".join(unknown), "allowed": ", ".join((*required, *optional))},
            )
        )
    return errors


def _records(text: str, required, optional, *, open_ended: bool = False) -> ImportPreview:
    """Parse the header and rows into dicts; errors for the header and ragged rows."""
    header, rows = _read_rows(text)
    preview = ImportPreview(text=text, columns=header)
    preview.errors = _header_errors(header, required, optional, open_ended=open_ended)
    if preview.errors:
        return preview
    if not rows:
        preview.errors.append(RowError(None, None, _("The file has a header but no rows.")))
    for line, fields in rows:
        if len(fields) != len(header):
            preview.errors.append(
                RowError(
                    line,
                    None,
                    _(
                        "%(found)s values where the header names %(expected)s. A value that "
                        "contains a comma must be inside double quotes."
                    )
                    % {"found": len(fields), "expected": len(header)},
                )
            )
            continue
        record = {name: value.strip() for name, value in zip(header, fields, strict=True)}
        preview.rows.append({"line": line, **record})
    return preview


def _number(value: str) -> float | None:
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(
            _("“%(value)s” is not a number (write 1500 or 0.25, without separators).")
            % {"value": value}
        ) from None
    if not math.isfinite(number):
        raise ValueError(_("“%(value)s” is not a finite number.") % {"value": value})
    return number


def _boolean(value: str) -> bool:
    word = value.lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(_("“%(value)s” is not yes or no.") % {"value": value})
    return word in TRUE_WORDS


# --- Questions --------------------------------------------------------------------------


def questions_preview(*, survey: Survey, text: str) -> ImportPreview:
    preview = _records(text, QUESTION_REQUIRED, QUESTION_OPTIONAL)
    if preview.errors:
        return preview
    existing_codes = set(survey.questions.values_list("code", flat=True))
    scenarios = set(survey.scenarios.values_list("code", flat=True))
    seen: dict[str, int] = {}
    for record in preview.rows:
        errors = _duplicate_errors(record["line"], "code", record["code"], existing_codes, seen)
        errors += _question_row_errors(survey, record)
        errors += _scenario_errors(record, scenarios)
        preview.errors.extend(errors)
    preview.new_scenarios = sorted(
        {row["scenario"] for row in preview.rows if row.get("scenario")} - scenarios
    )
    return preview


def _question_row_errors(survey: Survey, record: dict) -> list[RowError]:
    line = record["line"]
    try:
        fields = _question_fields(record)
    except ValueError as exc:
        column, message = exc.args
        return [RowError(line, column, message)]
    question = Question(survey=survey, code=record["code"], text=record["text"], **fields)
    record["fields"] = fields
    try:
        services.question_validate(question=question, check_unique=False)
    except ValidationError as exc:
        return _row_errors(line, exc)
    return []


def _scenario_errors(record: dict, existing: set[str]) -> list[RowError]:
    code = record.get("scenario", "")
    if not code or code in existing:
        return []
    scenario = Scenario(code=code, title=record.get("scenario_title") or code)
    try:
        scenario.full_clean(exclude=["survey"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        return [
            RowError(record["line"], "scenario" if name == "code" else "scenario_title", message)
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return []


def _row_errors(line: int, exc: ValidationError) -> list[RowError]:
    return [
        RowError(line, None if column == "__all__" else column, message)
        for column, messages in exc.message_dict.items()
        for message in messages
    ]


def _question_fields(record: dict) -> dict:
    """Typed model fields of one row; ``ValueError((column, message))`` on the first bad one."""
    kind = record["kind"].lower()
    if kind not in Question.Kind.values:
        raise ValueError(
            "kind",
            _("“%(value)s” is not a kind. Use binary or numeric.") % {"value": record["kind"]},
        )
    scale = record.get("scale", "").lower() or Question.Scale.UNIFORM
    if scale not in Question.Scale.values:
        raise ValueError(
            "scale", _("“%(value)s” is not a scale. Use uniform or log.") % {"value": scale}
        )
    fields = {"kind": kind, "scale": scale}
    for name in ("guidance", "unit", "resolution_criteria", "tags", *KOREAN_COLUMNS):
        fields[name] = record.get(name, "")
    for name in ("lower_bound", "upper_bound", "seed_answer"):
        try:
            fields[name] = _number(record.get(name, ""))
        except ValueError as exc:
            raise ValueError(name, str(exc)) from None
    try:
        fields["is_seed"] = _boolean(record.get("is_seed", ""))
    except ValueError as exc:
        raise ValueError("is_seed", str(exc)) from None
    asks = record.get("asks_meta_predictions", "").strip()
    try:
        fields["asks_meta_predictions"] = _boolean(asks) if asks else True
    except ValueError as exc:
        raise ValueError("asks_meta_predictions", str(exc)) from None
    return fields


def questions_import(*, survey: Survey, text: str) -> list[Question]:
    with transaction.atomic():
        preview = questions_preview(survey=survey, text=text)
        if not preview.ok:
            raise ImportRefused(preview)
        scenarios = _scenarios_ensure(survey=survey, rows=preview.rows)
        return [
            services.question_create(
                survey=survey,
                code=row["code"],
                text=row["text"],
                scenario=scenarios.get(row.get("scenario", "")),
                **row["fields"],
            )
            for row in preview.rows
        ]


def _scenarios_ensure(*, survey: Survey, rows: list[dict]) -> dict[str, Scenario]:
    scenarios = {scenario.code: scenario for scenario in survey.scenarios.all()}
    for row in rows:
        code = row.get("scenario", "")
        if code and code not in scenarios:
            scenarios[code] = services.scenario_create(
                survey=survey,
                code=code,
                title=row.get("scenario_title") or code,
                title_ko=row.get("scenario_title_ko", ""),
            )
    return scenarios


# --- Experts ----------------------------------------------------------------------------


def experts_preview(*, survey: Survey, text: str) -> ImportPreview:
    preview = _records(text, EXPERT_REQUIRED, EXPERT_OPTIONAL, open_ended=True)
    if preview.errors:
        return preview
    existing_emails = set(survey.contacts.values_list("email", flat=True))
    existing_codes = set(survey.experts.values_list("code", flat=True))
    seen_emails: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    for record in preview.rows:
        line = record["line"]
        record["email"] = record["email"].lower()
        record["language"] = record.get("language", "").lower() or Expert.Language.EN
        errors = _expert_row_errors(survey, record)
        errors += _duplicate_errors(line, "email", record["email"], existing_emails, seen_emails)
        if record.get("code") and not survey.is_strict:
            errors += _duplicate_errors(line, "code", record["code"], existing_codes, seen_codes)
        preview.errors.extend(errors)
    if survey.is_strict and any(row.get("code") for row in preview.rows):
        preview.notices.append(
            _(
                "This survey is strictly anonymous, so every expert gets a code drawn at "
                "random: the file's “code” column will not be used."
            )
        )
    formulas = sorted(
        {
            column
            for row in preview.rows
            for column, value in row.items()
            if column not in ("line", "email")
            and isinstance(value, str)
            and _looks_like_formula(value)
        }
    )
    if formulas:
        preview.notices.append(
            _(
                "Some values in the columns %(columns)s start with =, +, - or @. They are "
                "imported as text, and downloads write them so that a spreadsheet shows "
                "them as text instead of running them as formulas."
            )
            % {"columns": ", ".join(formulas)}
        )
    return preview


def _looks_like_formula(value: str) -> bool:
    return value[:1] in FORMULA_STARTS


def _expert_row_errors(survey: Survey, record: dict) -> list[RowError]:
    line, errors = record["line"], []
    try:
        validate_email(record["email"])
    except ValidationError:
        message = _("“%(value)s” is not an email address.") % {"value": record["email"]}
        errors.append(RowError(line, "email", message))
    if record["language"] not in Expert.Language.values:
        message = _("“%(value)s” is not a language we offer. Use %(choices)s.") % {
            "value": record["language"],
            "choices": " or ".join(Expert.Language.values),
        }
        errors.append(RowError(line, "language", message))
    expert = Expert(
        survey=survey,
        code=(not survey.is_strict and record.get("code")) or "E000",
        attributes=expert_attributes(record),
        time_zone=record.get("time_zone") or settings.TIME_ZONE,
    )
    contact = ExpertContact(survey=survey, name=record["name"], email=record["email"])
    # Email and language are reported above; uniqueness by _duplicate_errors.
    for instance, exclude in (
        (expert, ["survey", "user", "language"]),
        (contact, ["survey", "expert", "email"]),
    ):
        try:
            instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            errors += _row_errors(line, exc)
    return errors


def _duplicate_errors(line, column, value, existing, seen) -> list[RowError]:
    errors = []
    if value in existing:
        errors.append(
            RowError(
                line, column, _("%(value)s is already on this survey's panel.") % {"value": value}
            )
        )
    elif value in seen:
        errors.append(
            RowError(
                line,
                column,
                _("%(value)s is already on line %(other)s.")
                % {"value": value, "other": seen[value]},
            )
        )
    seen.setdefault(value, line)
    return errors


def expert_attributes(record: dict) -> dict[str, str]:
    """Every column that is not name/email/language/code is a cohort attribute."""
    fixed = {"line", *EXPERT_REQUIRED, *EXPERT_OPTIONAL}
    return {name: value for name, value in record.items() if name not in fixed and value}


def experts_import(*, survey: Survey, text: str) -> list[Expert]:
    with transaction.atomic():
        preview = experts_preview(survey=survey, text=text)
        if not preview.ok:
            raise ImportRefused(preview)
        rows = list(preview.rows)
        if survey.is_strict:
            # Created in random order: the ids of experts must not follow the file's rows.
            secrets.SystemRandom().shuffle(rows)
        codes = _expert_codes(survey=survey, rows=rows)
        return [
            services.expert_create(
                survey=survey,
                name=row["name"],
                email=row["email"],
                language=row["language"],
                attributes=expert_attributes(row),
                code=code,
                time_zone=row.get("time_zone") or None,
            )
            for row, code in zip(rows, codes, strict=True)
        ]


def _expert_codes(*, survey: Survey, rows: list[dict]) -> list[str | None]:
    """The row's own code, else the next free E-number (skipping codes the file names);
    at the strict level always None (expert_create draws each at random)."""
    if survey.is_strict:
        return [None] * len(rows)
    taken = set(survey.experts.values_list("code", flat=True))
    taken |= {row["code"] for row in rows if row.get("code")}
    codes, offset = [], 0
    for row in rows:
        if row.get("code"):
            codes.append(row["code"])
            continue
        while (code := services.expert_next_code(survey=survey, offset=offset)) in taken:
            offset += 1
        taken.add(code)
        codes.append(code)
    return codes
