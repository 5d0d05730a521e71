"""Version recipes: documented defaults, canonical form, and a clear error for every bad field."""

import pytest
from django.core.exceptions import ValidationError

from labeling.services.recipes import recipe_parse
from tests.conftest import make_project
from tests.labeling.version_helpers import add_texts, text_project

pytestmark = pytest.mark.django_db


def errors_of(project, data):
    with pytest.raises(ValidationError) as caught:
        recipe_parse(project=project, data=data)
    return caught.value.message_dict


def test_empty_recipe_is_the_documented_defaults(manager):
    project = text_project(manager)
    assert recipe_parse(project=project, data={}) == {
        "use_decisions": True,
        "consensus": "majority",
        "min_answers": 1,
        "min_agreement": 0.5,
        "unresolved": "exclude",
        "out_of_domain": "class",
        "uncertain": "exclude",
        "borderline": "exclude",
        "class_map": {},
        "archived_weight": 0.4,
        "filters": {},
        "splits": {"train": 0.8, "dev": 0.1, "test": 0.1, "salt": "", "group_by": ""},
        "formats": ["jsonl", "csv", "parquet"],
    }


def test_formats_follow_the_modality(manager):
    image = make_project(manager, name="Pets")
    audio = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    assert recipe_parse(project=image, data={})["formats"][-1] == "imagefolder"
    parsed = recipe_parse(project=audio, data={})
    assert parsed["formats"][-1] == "audiofolder" and parsed["transcripts"]["case"] is True
    # JSON Lines (the manifest) and Parquet (diffs, training) are always built.
    assert recipe_parse(project=image, data={"formats": ["csv"]})["formats"] == ["jsonl", "csv", "parquet"]


def test_unknown_fields_are_named_at_every_level(manager):
    project = text_project(manager)
    errors = errors_of(project, {"min_agreemnt": 0.6, "filters": {"tag": "x"}, "splits": {"validation": 0.1}})
    assert "unknown field 'min_agreemnt'" in errors["min_agreemnt"][0]
    assert "unknown field 'tag'" in errors["filters.tag"][0]
    assert "unknown field 'validation'" in errors["splits.validation"][0]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"consensus": "vote"}, "consensus", "not one of majority, dawid_skene"),
        ({"min_answers": 0}, "min_answers", "from 1 to 1000"),
        ({"min_agreement": 1.5}, "min_agreement", "from 0 to 1"),
        ({"unresolved": "drop"}, "unresolved", "not one of exclude, needs_review"),
        ({"borderline": "map:unicorn"}, "borderline", "'unicorn' is not a class"),
        ({"uncertain": "ignore"}, "uncertain", "not one of exclude, class, value"),
        ({"class_map": {"cat": "lion"}}, "class_map", "'lion' is not an active class"),
        ({"splits": {"train": 0.7, "dev": 0.1}}, "splits", "must be 1"),
        ({"filters": {"tags": ["nope"]}}, "filters.tags", "unknown tags: nope"),
        ({"filters": {"sources": ["nowhere"]}}, "filters.sources", "unknown sources: nowhere"),
        ({"filters": {"created_from": "yesterday"}}, "filters.created_from", "is not a date"),
        # well formed, but days and hours the calendar lacks: these were 500s (ValueError)
        ({"filters": {"created_from": "2020-02-30"}}, "filters.created_from", "'2020-02-30' is not a date"),
        ({"filters": {"answered_to": "2020-01-01T25:00"}}, "filters.answered_to", "is not a date"),
        ({"filters": {"guideline": 4}}, "filters.guideline", "no guideline version 4"),
        ({"transcripts": {}}, "transcripts", "transcription projects"),
        ({"formats": ["imagefolder"]}, "formats", "does not fit this text project"),
    ],
)
def test_bad_values_say_what_is_wrong(manager, data, field, message):
    project = text_project(manager)
    errors = errors_of(project, data)
    assert message in " ".join(errors[field]), errors


def test_dawid_skene_needs_classification(manager):
    project = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    assert "classification" in errors_of(project, {"consensus": "dawid_skene"})["consensus"][0]


def test_canonical_form_names_sources_and_sorts(manager):
    from labeling.services.sources import source_create

    project = text_project(manager)
    source = source_create(project=project, name="crowd", kind="crowdsourced")
    add_texts(project, ["a"], tags=["b-tag", "a-tag"])
    parsed = recipe_parse(project=project, data={"filters": {"sources": [source.pk], "tags": ["b-tag", "a-tag"]}})
    assert parsed["filters"] == {"sources": ["crowd"], "tags": ["a-tag", "b-tag"]}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ([r"(um)", r"\9"], r"rule 0: the replacement '\9' for '(um)' is invalid"),
        ([r"(?P<w>um)", r"\g<word>"], r"rule 0: the replacement '\g<word>' for '(?P<w>um)' is invalid"),
        ([r"um", "\\"], "rule 0: the replacement '\\' for 'um' is invalid"),
    ],
)
def test_a_rule_whose_replacement_names_a_missing_group_is_refused_when_sent(manager, rule, message):
    """The replacement is read by the regex package only on a match: a bad one passed here and failed the
    version build (or the agreement report) on the first transcript it matched."""
    project = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    errors = errors_of(project, {"transcripts": {"rules": [[r"\bok\b", "okay"], rule]}})
    assert message.replace("rule 0", "rule 1") in " ".join(errors["transcripts.rules"]), errors
    # a good group reference is kept as sent
    good = recipe_parse(project=project, data={"transcripts": {"rules": [[r"(?P<w>um)+", r"\g<w>"]]}})
    assert good["transcripts"]["rules"] == [[r"(?P<w>um)+", r"\g<w>"]]


@pytest.mark.parametrize(
    ("group_by", "message"),
    [(5, "must be a metadata key"), (["recording"], "must be a metadata key"), ("k" * 101, "at most 100")],
)
def test_a_bad_split_group_key_is_refused_naming_it(manager, group_by, message):
    errors = errors_of(text_project(manager), {"splits": {"group_by": group_by}})
    assert message in " ".join(errors["splits.group_by"]), errors


def test_split_group_key_is_kept_in_the_canonical_recipe(manager):
    project = text_project(manager)
    parsed = recipe_parse(
        project=project, data={"splits": {"train": 0.7, "dev": 0.2, "test": 0.1, "group_by": "patient"}}
    )
    assert parsed["splits"] == {"train": 0.7, "dev": 0.2, "test": 0.1, "salt": "", "group_by": "patient"}
    assert recipe_parse(project=project, data={"splits": {"group_by": " patient "}})["splits"]["group_by"] == "patient"


def test_the_schema_documents_the_split_group_key(api, manager):
    schema = api(manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    splits = schema["components"]["schemas"]["RecipeSplitsRequest"]["properties"]
    assert splits["group_by"]["type"] == "string" and "share a split" in splits["group_by"]["description"]
