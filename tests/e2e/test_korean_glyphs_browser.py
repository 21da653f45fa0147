"""Korean renders with real glyphs (issue 13, point 5): a staff page in Korean, and a report
figure (SVG, whose text stays text) carrying Korean labels, drawn by Chromium with a font
that has Hangul (bin/ensure-chromium installs Debian's fonts-noto-cjk).

Two checks that do not trust each other: Chromium's own account of the font that drew each
node (CDP ``CSS.getPlatformFontsForNode``), and pixels: every syllable of a known string
drawn alone must look different from the others, which missing-glyph boxes never do.
"""

import pytest
from django.test import Client
from django.urls import reverse

from elicitation import services
from tests.conftest import user_create

pytestmark = pytest.mark.browser

KNOWN = "설문만들기"  # the survey list's "Create a survey", in Korean, without the space


def _platform_fonts(page, selector: str) -> list[dict]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    assert node, selector
    return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]


def _has_hangul_font(fonts: list[dict]) -> bool:
    return any("CJK" in f["familyName"] or "Nanum" in f["familyName"] for f in fonts)


def _syllables_look_different(browser, text: str) -> None:
    page = browser.new_page()  # a blank page: no site CSP to forbid the inline style
    page.set_content(
        "<!doctype html><html lang='ko'><body>"
        + "".join(f"<span style='font-size:40px;padding:4px'>{c}</span>" for c in text)
        + "</body></html>"
    )
    shots = [page.locator("span").nth(k).screenshot() for k in range(len(text))]
    assert len(set(shots)) == len(text), "some syllables render identically: missing glyphs"


@pytest.fixture
def organizer(transactional_db):
    user = user_create("olivia", is_staff=True)
    services.survey_create(title="동맹의 기여", organizers=[user])
    return user


def test_a_korean_staff_page_renders_hangul_glyphs(live_server, browser, organizer):
    client = Client()
    client.force_login(organizer)
    context = browser.new_context(locale="ko-KR", extra_http_headers={"Accept-Language": "ko"})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()
    page.goto(live_server.url + reverse("elicitation:survey-list"))
    link = page.get_by_role("link", name="설문 만들기")
    assert link.is_visible()
    link.evaluate("a => a.id = 'known-string'")
    fonts = _platform_fonts(page, "#known-string")
    assert _has_hangul_font(fonts), fonts
    assert sum(f["glyphCount"] for f in fonts) >= len(KNOWN)
    title_fonts = _platform_fonts(page, "main table a")  # the survey's Korean title
    assert _has_hangul_font(title_fonts), title_fonts
    _syllables_look_different(browser, KNOWN)


def test_a_figure_with_korean_labels_renders_hangul_glyphs(live_server, browser, tmp_path):
    """A report figure as the workers draw it (matplotlib, text kept as SVG text)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aggregation.engine import plots

    with plt.rc_context(plots.STYLE):
        figure, axes = plt.subplots(figsize=(4, 2))
        axes.barh(["한국", "미국"], [0.4, 0.7])
        axes.set_xlabel("합의 확률")
        path = tmp_path / "cohorts.svg"
        figure.savefig(path, format="svg")
        plt.close(figure)
    svg = path.read_text()
    assert "한국" in svg and "합의 확률" in svg  # text, not outlines
    page = browser.new_page()
    page.set_content(svg)
    page.locator("svg text", has_text="합의").first.evaluate("t => t.id = 'korean-label'")
    fonts = _platform_fonts(page, "#korean-label")
    assert _has_hangul_font(fonts), fonts
    _syllables_look_different(browser, "한국미합의확률")
