"""Figures in the reader's language (issue 13, point 5): a run draws each figure once per
site language, and the figure's one URL serves the drawing in the page's language."""

import re
from pathlib import Path

from django.test import Client
from django.urls import reverse


def test_a_figure_comes_in_the_readers_language(analyst, finished_run, settings):
    folder = Path(settings.MEDIA_ROOT) / "runs" / str(finished_run.id)
    (folder / "consensus__ko.svg").write_bytes(
        b'<svg xmlns="http://www.w3.org/2000/svg"><text>\xed\x95\xa9\xec\x9d\x98</text></svg>'
    )
    finished_run.figures["consensus__ko"] = f"runs/{finished_run.id}/consensus__ko.svg"
    finished_run.save(update_fields=["figures"])
    client = Client()
    client.force_login(analyst)
    url = reverse("aggregation:run-figure", args=[finished_run.id, "consensus"])

    english = client.get(url)
    assert english.status_code == 200 and "합의".encode() not in b"".join(english.streaming_content)
    korean = client.get(url, HTTP_ACCEPT_LANGUAGE="ko")
    assert "합의".encode() in b"".join(korean.streaming_content)
    assert "Accept-Language" in korean["Vary"] and "Cookie" in korean["Vary"]
    # A figure drawn before runs drew Korean ones still opens, in English.
    old = client.get(
        reverse("aggregation:run-figure", args=[finished_run.id, "disagreement"]),
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    assert old.status_code == 200


def test_the_report_lists_each_figure_once(analyst, finished_run, settings):
    finished_run.figures["consensus__ko"] = finished_run.figures["consensus"]
    finished_run.save(update_fields=["figures"])
    client = Client()
    client.force_login(analyst)
    html = client.get(reverse("aggregation:round-report", args=[finished_run.survey_round_id]))
    assert "consensus__ko" not in html.content.decode()


def test_numeric_figures_are_drawn_in_every_language(settings, tmp_path):
    from aggregation import numeric_reports
    from aggregation.engine.quantiles import QuantileTable
    from tests.aggregation.conftest import PANEL, numeric_result

    settings.MEDIA_ROOT = tmp_path
    table = QuantileTable.from_rows(
        [
            {"expert": code, "question": "N01", "q05": 2 + k, "q50": 6 + k, "q95": 15 + 2 * k,
             "cohort": nationality}
            for k, (code, _name, _email, nationality) in enumerate(PANEL)
        ]
    )  # fmt: skip
    figures = numeric_reports.figures_render(
        result=numeric_result(), table=table, folder=Path("runs/1"), units={"N01": "ships"}
    )
    name = numeric_reports.figure_name("N01")
    assert {name, f"{name}__ko", "expert-confidence", "expert-confidence__ko"} <= set(figures)
    english = (tmp_path / figures[name]).read_text()
    korean = (tmp_path / figures[f"{name}__ko"]).read_text()
    assert "Model forecast" in english and "Cooke, equal weights" in english
    assert "모형 예측" in korean and "Cooke, 동일 가중치" in korean
    for text in ("Model forecast", "An expert", "ranges, dot at the median", "band"):
        assert text not in korean, text
    confidence = (tmp_path / figures["expert-confidence__ko"]).read_text()
    assert "Confidence ratio" not in confidence and "확신 비율" in confidence


def test_figure_names_keep_codes_that_read_alike_apart():
    from aggregation.numeric_reports import figure_name

    names = {figure_name(code) for code in ("A.1", "A_1", "A 1", "A/1")}
    assert len(names) == 4
    assert all(re.fullmatch(r"numeric-A_1-[0-9a-f]{8}", name) for name in names)


def test_intervals_are_worded_in_the_readers_language():
    from django.utils import translation

    from aggregation.numeric_reports import Quantity
    from aggregation.presenters import Estimate

    assert Quantity(1.0, 0.5, 2.0).interval_text == "0.500 to 2.00"
    assert Estimate(0.5, 0.25, 0.75).interval_text == "0.250 to 0.750"
    with translation.override("ko"):
        assert Quantity(1.0, 0.5, 2.0).interval_text == "0.500~2.00"
        assert Estimate(0.5, 0.25, 0.75).interval_text == "0.250~0.750"
