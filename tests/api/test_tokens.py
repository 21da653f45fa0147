"""Personal tokens: made on a page (shown once), stored hashed, revocable; none for experts."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from api.models import ApiToken
from api.services import api_token_create, token_hash
from tests.api.conftest import bearer


@pytest.mark.parametrize("persona", ["organizer", "analyst"])
def test_a_token_is_shown_once_and_stored_hashed(client_as, persona):
    client = client_as(persona)
    response = client.post(reverse("api-tokens:list"), {"name": "notebook"})
    assert response.status_code == 200
    token = ApiToken.objects.get()
    secret = response.context["secret"]
    assert secret.startswith("csm_") and secret in response.content.decode()
    assert token.token_hash == token_hash(secret) and secret not in token.token_hash
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    listing = client.get(reverse("api-tokens:list")).content.decode()
    assert secret not in listing and token.prefix in listing
    client.logout()
    assert client.get("/api/v1/surveys", **bearer(secret)).status_code == 200


def test_a_revoked_token_opens_nothing(client, organizer):
    row, secret = api_token_create(user=organizer, name="ci")
    client.force_login(organizer)
    response = client.post(reverse("api-tokens:revoke", args=[row.id]))
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    client.logout()
    assert client.get("/api/v1/surveys", **bearer(secret)).status_code == 401


def test_nobody_revokes_another_users_token(client, organizer, analyst):
    row, _secret = api_token_create(user=analyst, name="theirs")
    client.force_login(organizer)
    assert client.post(reverse("api-tokens:revoke", args=[row.id])).status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


def test_experts_and_plain_accounts_get_no_token(client, expert, member):
    with pytest.raises(PermissionDenied):
        api_token_create(user=expert.user, name="mine")
    client.force_login(member)
    assert client.get(reverse("api-tokens:list")).status_code == 403
    assert client.post(reverse("api-tokens:list"), {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_a_token_without_a_name_is_refused_with_a_reason(client, organizer):
    client.force_login(organizer)
    response = client.post(reverse("api-tokens:list"), {"name": "  "})
    assert response.status_code == 400
    assert "name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_anonymous_users_are_sent_to_the_login(client, db):
    response = client.get(reverse("api-tokens:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
