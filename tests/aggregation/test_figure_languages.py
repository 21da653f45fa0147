"""Figures in the reader's language (issue 13, point 5): a run draws each figure once per
site language, and the figure's one URL serves the drawing in the page's language."""

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
