"""The real-model tests' fixture: skipped without `make embedders`, except in CI, which builds the models
and must not pass those tests by skipping them."""

import pytest

from tests.conftest import _models_dir_with


def test_a_missing_model_skips_the_test_on_a_developers_machine(monkeypatch, tmp_path):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("LABELHUB_MODELS_DIR", str(tmp_path))
    with pytest.raises(BaseException) as outcome:
        _models_dir_with(["audio-voice"])
    assert outcome.type is pytest.skip.Exception
    assert "run `make embedders`" in str(outcome.value)


def test_a_missing_model_fails_the_test_in_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("LABELHUB_MODELS_DIR", str(tmp_path))
    # caught whatever it is: a skip escaping the test would make it skipped, not failed
    with pytest.raises(BaseException) as outcome:
        _models_dir_with(["audio-voice"])
    assert outcome.type is pytest.fail.Exception
    assert "audio-voice" in str(outcome.value) and "CI builds them" in str(outcome.value)
