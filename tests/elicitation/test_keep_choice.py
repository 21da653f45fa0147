"""The "keep my previous answer" button keeps only a question of the page it was pressed on
(a question of another part, or one of the earlier round left out of this one, used to be
accepted: the save went through and the redirect to its anchor raised a 500)."""

from types import SimpleNamespace

from elicitation.views.expert import _kept_questions

PAGE = [SimpleNamespace(id=11), SimpleNamespace(id=12)]


def test_a_question_of_the_page_is_kept():
    assert _kept_questions({"keep": "12"}, PAGE, {}) == [12]


def test_a_question_not_on_the_page_keeps_nothing():
    assert _kept_questions({"keep": "13"}, PAGE, {}) == []


def test_all_keeps_the_pages_unanswered_questions_and_junk_keeps_nothing():
    assert _kept_questions({"keep": "all"}, PAGE, {11: object()}) == [12]
    assert _kept_questions({"keep": "²"}, PAGE, {}) == []
