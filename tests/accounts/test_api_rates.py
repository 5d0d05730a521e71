"""API request rates: per user (all their tokens and their session together) and per anonymous address."""

import pytest
from rest_framework.test import APIClient

from accounts import throttles
from accounts.services import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(monkeypatch):
    def set_rates(**rates):
        # DRF reads the rates into the class when it is imported; settings overrides come too late.
        monkeypatch.setattr(throttles.UserRateThrottle, "THROTTLE_RATES", rates)
        monkeypatch.setattr(throttles.AnonRateThrottle, "THROTTLE_RATES", rates)

    return set_rates


def test_a_user_over_the_rate_gets_429_with_retry_after(rates, api, labeler, manager, project):
    rates(user="3/minute", anon=None)
    url = f"/api/projects/{project.pk}/"
    first, second = api(labeler), api(labeler)  # two machines of one user share the limit
    assert [c.get(url).status_code for c in (first, second, first)] == [200, 200, 200]
    response = second.get(url)
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"]
    assert api(manager).get(url).status_code == 200


def test_anonymous_requests_are_counted_per_address(rates, labeler):
    rates(user=None, anon="2/minute")
    body = {"username": labeler.username, "password": "pw-labeler1"}
    client = APIClient()
    assert [client.post("/api/auth/token/", body, REMOTE_ADDR="203.0.113.1").status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    assert client.post("/api/auth/token/", body, REMOTE_ADDR="203.0.113.2").status_code == 200


def test_the_default_rates_leave_the_labeling_loop_alone(api, labeler, project):
    _, key = token_create(user=labeler, name="loop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    statuses = {client.get(f"/api/projects/{project.pk}/progress/").status_code for _ in range(300)}
    assert statuses == {200}
