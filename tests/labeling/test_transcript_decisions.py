"""An SME's final transcript is kept whole, as long as a labeler's may be."""

import pytest

from labeling.models import Decision
from labeling.services.projects import member_add
from tests.conftest import make_project
from tests.labeling.version_helpers import add_texts

pytestmark = pytest.mark.django_db

LONG = "please find me the nearest gas station that is still open after midnight on a sunday"


def test_a_final_transcript_over_64_characters_is_recorded_whole(api, manager, reviewer):
    project = make_project(manager, name="Queries", modality="text", task_type="transcription")
    member_add(project=project, username=reviewer.username, role="reviewer")
    (item,) = add_texts(project, ["(a clip's text stand-in)"])
    url = f"/api/items/{item.pk}/decision/"
    response = api(reviewer).post(url, {"label": LONG, "rationale": "heard twice"}, format="json")
    assert response.status_code == 201, response.content[:200]
    assert Decision.objects.get().label == LONG
    too_long = api(reviewer).post(url, {"label": "a" * 5001}, format="json")
    assert too_long.status_code == 400 and "5,001 characters" in too_long.json()["label"][0]
