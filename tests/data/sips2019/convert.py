"""Convert the aggreCAT SIPS 2019 exports into the files ``manage.py evaluate`` reads.

    python tests/data/sips2019/convert.py        # rewrites judgments.csv and outcomes.csv
    python tests/data/sips2019/convert.py --round 1 --out DIR   # round 1, into DIR

Input (copied unchanged from the source, see SOURCE.md):
- ``data_ratings.csv``: round, paper_id, user_name, question, element, value, group;
- ``data_outcomes.csv``: paper_id, outcome (1.0 replicated, 0.0 not).

Output:
- ``judgments.csv``: expert,cohort,question,probability: the round-2 (final, after
  discussion) best estimates of the probability of replication (question
  ``direct_replication``, element ``three_point_best``, a percentage divided by 100).
  A question is ``claim-<paper_id>``, expert = user_name, cohort = the discussion group
  (UOM1 ... UOM5). The lower and upper estimates are not used: a binary judgment is one
  probability.
- ``outcomes.csv``: question,outcome (1/0).
"""

import argparse
import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATINGS = HERE / "data_ratings.csv"
OUTCOMES = HERE / "data_outcomes.csv"


def question_label(paper_id: str) -> str:
    return f"claim-{int(float(paper_id))}"


def convert(ratings_csv: Path = RATINGS, outcomes_csv: Path = OUTCOMES, *, round_number: int = 2):
    """(judgment rows, outcome rows) as lists of dicts in the output files' column order;
    round 1 holds the estimates given before the discussion (a second, correlated panel
    on the same claims, which bench/README.md uses as a check the model was not built on)."""
    with open(ratings_csv, newline="", encoding="utf-8") as handle:
        ratings = list(csv.DictReader(handle))
    judgments = [
        {
            "expert": row["user_name"],
            "cohort": row["group"],
            "question": question_label(row["paper_id"]),
            # the percentage as a probability, to the precision it was given
            "probability": repr(round(float(row["value"]) / 100, 6)),
        }
        for row in ratings
        if row["round"] == f"round_{round_number}"
        and row["question"] == "direct_replication"
        and row["element"] == "three_point_best"
    ]
    with open(outcomes_csv, newline="", encoding="utf-8") as handle:
        outcomes = [
            {
                "question": question_label(row["paper_id"]),
                "outcome": str(int(float(row["outcome"]))),
            }
            for row in csv.DictReader(handle)
        ]
    return judgments, outcomes


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round", type=int, choices=(1, 2), default=2, dest="round_number")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (default: here)")
    args = parser.parse_args()
    judgments, outcomes = convert(round_number=args.round_number)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "judgments.csv").write_text(to_csv(judgments), encoding="utf-8")
    (args.out / "outcomes.csv").write_text(to_csv(outcomes), encoding="utf-8")
    print(f"{len(judgments)} judgments, {len(outcomes)} outcomes written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
