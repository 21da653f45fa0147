"""After logging in, each persona lands where its work is."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from aggregation.selectors import ANALYST_GROUP


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("staff", "analyst", "landing"),
    [(True, False, "/surveys/"), (False, True, "/reports/")],
    ids=["organizer", "analyst"],
)
def test_login_lands_organizers_on_surveys_and_analysts_on_reports(client, staff, analyst, landing):
    user = get_user_model().objects.create_user(
        "pat", "pat@example.org", "pw-pat-12345", is_staff=staff
    )
    if analyst:
        user.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
    response = client.post(
        "/accounts/login/", {"username": "pat", "password": "pw-pat-12345"}, follow=True
    )
    assert response.redirect_chain[-1][0] == landing
    assert response.status_code == 200
