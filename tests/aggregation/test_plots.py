"""aggregation.engine.plots: figures as SVG text, with no Django (STYLE.md rule 5)."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from aggregation.engine import plots

ROOT = Path(__file__).resolve().parents[2]
SVG_NS = "{http://www.w3.org/2000/svg}"


def test_the_plotting_module_loads_no_django():
    # A fresh interpreter: this test process has Django loaded already (pytest-django).
    code = (
        "import json, sys\nimport aggregation.engine.plots\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'django')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def _rows() -> list[dict]:
    def point(mean, low, high):
        return {"mean": mean, "interval": [low, high]}

    return [
        {"label": "Will Korea send ships? (Q02)", "first": point(0.3, 0.2, 0.4),
         "last": point(0.45, 0.35, 0.55), "shift": point(0.15, 0.1, 0.2)},
        {"label": "Will Japan allow US combat operations from its bases, and for how long "
                  "would it keep allowing them? (Q01)",
         "first": point(0.62, 0.55, 0.69), "last": point(0.6, 0.53, 0.67),
         "shift": point(-0.02, -0.05, 0.01)},
    ]  # fmt: skip


def test_the_rounds_chart_is_svg_text_with_a_title_and_a_description():
    svg = plots.svg_text(
        lambda: plots.rounds_chart(_rows(), first="1", last="2", mass=0.9),
        title="Consensus in round 1 & round 2",
        desc="Two questions <sorted>.",
    )
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.find(f"{SVG_NS}title").text == "Consensus in round 1 & round 2"  # escaped
    assert root.find(f"{SVG_NS}desc").text == "Two questions <sorted>."
    texts = [t.text or "" for t in root.iter(f"{SVG_NS}text")]
    assert "Will Korea send ships? (Q02)" in texts
    assert any(t.startswith("Will Japan allow") for t in texts)
    assert all(len(t) <= 50 for t in texts if "Japan" in t or "allowing" in t)  # wrapped
    assert {"Round 1", "Round 2"} <= set(texts)
    # the same data draws the same bytes (no timestamp, stable ids)
    assert svg == plots.svg_text(
        lambda: plots.rounds_chart(_rows(), first="1", last="2", mass=0.9),
        title="Consensus in round 1 & round 2",
        desc="Two questions <sorted>.",
    )


def test_labels_are_drawn_in_the_language_installed():
    with plots.translating(lambda message: {"Round %(number)s": "%(number)s라운드"}.get(
        message, message
    )):  # fmt: skip
        svg = plots.svg_text(lambda: plots.rounds_chart(_rows(), first="1", last="2", mass=0.9))
    assert "1라운드" in svg and "Round 1" not in svg
    assert plots._("Round %(number)s") == "Round %(number)s"  # English again outside
