"""How the CSV files here were made from Cooke's workbook (run once; needs openpyxl, which
Consilium does not depend on): every sheet but the first two holds one study's seed items,
one row per expert x item (Expert ID, LabelQuestion, 5th, 50th and 95th percentile, and the
realization on the first expert's rows).

    pip install openpyxl
    python convert.py "Expert_data_60_studies.xlsx" .
"""

import csv
import re
import sys
from pathlib import Path

import openpyxl

SKIPPED = {"_xltb_storage_", "Results REH"}  # toolbox settings; a summary of results


def convert(workbook: Path, out: Path) -> None:
    book = openpyxl.load_workbook(workbook, read_only=True, data_only=True)
    for sheet in book.worksheets:
        if sheet.title in SKIPPED:
            continue
        judgments, realized = [], {}
        for row in list(sheet.iter_rows(values_only=True))[1:]:
            expert, item, q05, q50, q95, value = row[:6]
            if expert is None or item is None:
                continue
            question = f"Q{int(item):02d}"
            judgments.append((f"E{int(expert):02d}", question, float(q05), float(q50), float(q95)))
            if isinstance(value, int | float):
                realized.setdefault(question, float(value))
        ordered = [j for j in judgments if j[2] < j[3] < j[4]]
        if not ordered:  # Brexit_Food: every 95 % equals the 50 %, so no answer is usable
            print(f"{sheet.title}: no answer with 5 % < 50 % < 95 %, left out")
            continue
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", sheet.title)
        with open(out / f"{name}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["expert", "question", "q05", "q50", "q95"])
            writer.writerows(ordered)
        with open(out / f"{name}.realized.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["question", "value"])
            writer.writerows(realized.items())


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
