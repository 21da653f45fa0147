"""Convert the pooledmaRket CSVs into the files ``manage.py evaluate`` reads.

    python tests/data/pooledmarket/convert.py        # rewrites judgments.csv and outcomes.csv

Input (copied unchanged from the source, see SOURCE.md):
- ``All Survey Data.csv``: project, finding_id, forecaster_id, response (0-1);
- ``All Study Data.csv``: project, finding_id, ..., replicated (1/0), ... (the header has
  padded names such as `` original_pval ``; they are stripped).

Output:
- ``judgments.csv``: expert,cohort,question,probability. A question is a finding of a
  project, labelled ``<project>-<finding_id>`` with the id zero-padded to two digits
  (``RPP-01``); cohort = project; expert = forecaster_id (every identified forecaster is
  in one project only, checked). The 96 ML2 rows with an empty forecaster_id (written ``NA``, R's missing value) get unique
  synthetic ids ``ML2-anon-001`` ... in file order, so that they still count (the
  published per-finding means use every row), each as a one-answer expert. The response
  text is copied as it is.
- ``outcomes.csv``: question,outcome,group with outcome = replicated and group = project
  (the recalibration may learn a calibration per project; the groups are known before
  any outcome).
"""

import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SURVEY = HERE / "All Survey Data.csv"
STUDY = HERE / "All Study Data.csv"


def question_label(project: str, finding_id: str) -> str:
    return f"{project.strip()}-{int(finding_id):02d}"


def convert(survey_csv: Path = SURVEY, study_csv: Path = STUDY) -> tuple[list[dict], list[dict]]:
    """(judgment rows, outcome rows) as lists of dicts in the output files' column order."""
    with open(survey_csv, newline="", encoding="utf-8-sig") as handle:
        survey = list(csv.DictReader(handle))
    with open(study_csv, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
        study = list(reader)

    project_of: dict[str, str] = {}
    judgments, anonymous = [], 0
    for row in survey:
        project, forecaster = row["project"].strip(), row["forecaster_id"].strip()
        if forecaster in ("", "NA"):  # R's missing value, as the file writes it
            anonymous += 1
            forecaster = f"{project}-anon-{anonymous:03d}"
        if project_of.setdefault(forecaster, project) != project:
            raise ValueError(f"forecaster {forecaster} appears in two projects")
        judgments.append(
            {
                "expert": forecaster,
                "cohort": project,
                "question": question_label(project, row["finding_id"]),
                "probability": row["response"].strip(),
            }
        )
    outcomes = [
        {
            "question": question_label(row["project"], row["finding_id"]),
            "outcome": int(row["replicated"].strip()),
            "group": row["project"].strip(),
        }
        for row in study
    ]
    outcomes.sort(key=lambda r: r["question"])
    return judgments, outcomes


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main(folder: Path = HERE) -> None:
    judgments, outcomes = convert()
    (folder / "judgments.csv").write_text(to_csv(judgments), encoding="utf-8")
    (folder / "outcomes.csv").write_text(to_csv(outcomes), encoding="utf-8")
    print(f"{len(judgments)} judgments, {len(outcomes)} outcomes -> {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
