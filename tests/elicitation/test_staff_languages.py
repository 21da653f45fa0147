"""Korean for staff (issue 13, point 5): organizer, analyst and report pages follow the
browser's language, and a switch in the header changes it, with the same gettext catalogue
as the expert pages."""

from django.urls import reverse


def test_organizer_pages_follow_a_browser_that_asks_for_korean(
    organizer_client, survey, open_round
):
    korean = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.5"}
    pages = {
        reverse("elicitation:survey-list"): "설문 만들기",
        reverse("elicitation:survey-detail", args=[survey.id]): "시나리오 추가",
        reverse("elicitation:survey-edit", args=[survey.id]): "배경 설명",
        reverse("elicitation:round-detail", args=[open_round.id]): "라운드 마감",
        reverse(
            "aggregation:round-report", args=[open_round.id]
        ): "이 라운드에 아직 종합 분석을 요청하지 않았습니다",
    }
    for url, text in pages.items():
        html = organizer_client.get(url, **korean).content.decode()
        assert '<html lang="ko">' in html, url
        assert text in html, url
    english = organizer_client.get(reverse("elicitation:survey-list")).content.decode()
    assert "Create a survey" in english and '<html lang="en">' in english


def test_the_staff_language_switch_changes_and_remembers_the_language(organizer_client, survey):
    url = reverse("elicitation:survey-detail", args=[survey.id])
    page = organizer_client.get(url).content.decode()
    assert f'action="{reverse("set_language")}"' in page and 'value="ko"' in page
    response = organizer_client.post(reverse("set_language"), {"language": "ko", "next": url})
    assert response.status_code == 302 and response.url == url
    assert "시나리오 추가" in organizer_client.get(url).content.decode()
    organizer_client.post(reverse("set_language"), {"language": "en", "next": url})
    assert "Add a scenario" in organizer_client.get(url).content.decode()


def test_the_switch_never_sends_anyone_off_the_site(organizer_client):
    response = organizer_client.post(
        reverse("set_language"), {"language": "ko", "next": "https://evil.example/"}
    )
    assert response.status_code in (302, 204)
    assert "evil.example" not in response.get("Location", "")


def test_form_errors_on_staff_pages_are_korean_too(organizer_client, survey):
    url = reverse("elicitation:question-create", args=[survey.id])
    data = {"code": "N10", "kind": "numeric", "text": "?", "scale": "uniform"}
    data |= {"lower_bound": "5", "upper_bound": "10", "is_seed": "on", "seed_answer": "50"}
    response = organizer_client.post(url, data, HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 400
    assert "알려진 답은 범위 안에 있어야 합니다." in response.content.decode()


def test_the_switch_on_a_posts_error_page_returns_to_a_page_that_answers_get(
    organizer_client, survey, open_round
):
    """The 400 page of a POST-only URL: the switch must not send anyone there (405)."""
    url = reverse("elicitation:round-extend", args=[open_round.id])
    page = organizer_client.post(url, {"extend-closes_at": "2020-01-01T10:00"})
    assert page.status_code == 400
    round_url = reverse("elicitation:round-detail", args=[open_round.id])
    html = page.content.decode()
    assert f'name="next" value="{round_url}"' in html and f'value="{url}"' not in html
    create = reverse("elicitation:question-create", args=[survey.id])
    page = organizer_client.post(create, {"code": "", "text": ""})
    assert page.status_code == 400
    assert f'name="next" value="{reverse("after-login")}"' in page.content.decode()
