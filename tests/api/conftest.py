"""The report tests' personas, survey, closed round and runs (tests/aggregation/conftest.py),
plus a personal API token per persona."""

import pytest

from api.models import ApiToken
from api.services import api_token_create, token_hash
from tests.aggregation.conftest import *  # noqa: F403 (the personas and runs)

EXPERT_TOKEN = "csm_forced-into-the-database-for-an-expert"


def bearer(token: str | None) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}


@pytest.fixture
def token_for(request):
    """persona -> the Authorization header its API client sends."""

    def make(persona: str) -> dict:
        if persona == "anonymous":
            return {}
        if persona == "expert":
            # The service refuses experts a token; one written straight into the database
            # (a bug, an admin's mistake) must still open nothing.
            user = request.getfixturevalue("expert").user
            ApiToken.objects.create(
                user=user, name="x", prefix="csm_", token_hash=token_hash(EXPERT_TOKEN)
            )
            return bearer(EXPERT_TOKEN)
        _row, token = api_token_create(user=request.getfixturevalue(persona), name="tests")
        return bearer(token)

    return make
