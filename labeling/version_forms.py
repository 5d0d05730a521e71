"""Forms of the dataset-version pages: a recipe (with a JSON escape hatch), a webhook."""

import json

from django import forms

from labeling.choices import SHAPE_TASKS
from labeling.services.recipes import formats_for

FLAG_CHOICES = [
    ("exclude", "left out"),
    ("class", "kept as its own class"),
    ("value", "counted as the answer's class"),
]


def _split_names(value):
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class RecipeForm(forms.Form):
    """The common recipe fields; ``recipe_json`` (when filled) is used instead of them.

    ``recipe()`` answers only what differs from the defaults, so a stored recipe reads as the choices made.
    """

    consensus = forms.ChoiceField(
        choices=[("majority", "majority vote"), ("dawid_skene", "Dawid-Skene")], initial="majority"
    )
    min_answers = forms.IntegerField(min_value=1, max_value=1000, initial=1, help_text="counted answers needed")
    min_agreement = forms.FloatField(min_value=0, max_value=1, initial=0.5, help_text="winning share needed")
    unresolved = forms.ChoiceField(
        choices=[("exclude", "left out"), ("needs_review", "listed as needs review")], initial="exclude"
    )
    use_decisions = forms.BooleanField(required=False, initial=True, label="SME decisions win")
    borderline = forms.CharField(initial="exclude", help_text="exclude, class, value or map:<class>")
    uncertain = forms.CharField(initial="exclude")
    out_of_domain = forms.CharField(initial="class")
    tags = forms.CharField(required=False, help_text="only items with any of these tags (comma-separated)")
    exclude_tags = forms.CharField(required=False, help_text="leave out items with these tags")
    train = forms.FloatField(min_value=0, max_value=1, initial=0.8)
    dev = forms.FloatField(min_value=0, max_value=1, initial=0.1)
    test = forms.FloatField(min_value=0, max_value=1, initial=0.1)
    group_by = forms.CharField(
        label="Keep together by metadata key",
        help_text="items sharing a value under this metadata key (a recording, a video, a patient) share a split",
    )
    formats = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False)
    recipe_json = forms.CharField(
        required=False,
        label="Or the whole recipe as JSON",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": '{"consensus": "dawid_skene", "min_answers": 2}'}),
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # a blank field means its default
            field.required = False
        if project.task_type in SHAPE_TASKS:
            # a shape's borderline or uncertain flag does not change what ships: no field that does nothing
            for name in ("borderline", "uncertain", "out_of_domain"):
                del self.fields[name]
        fitting = formats_for(project)
        self.fields["formats"].choices = [(f, f) for f in fitting]
        self.fields["formats"].initial = fitting

    def clean_recipe_json(self):
        text = self.cleaned_data.get("recipe_json", "").strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("a recipe is a JSON object")
        return value

    def recipe(self) -> dict:
        data = self.cleaned_data
        if data.get("recipe_json") is not None:
            return data["recipe_json"]
        recipe = {}
        for name in ("consensus", "min_answers", "min_agreement", "unresolved"):
            if data[name] not in (None, "") and data[name] != self.fields[name].initial:
                recipe[name] = data[name]
        if self.data and not data["use_decisions"]:
            recipe["use_decisions"] = False
        for name in ("borderline", "uncertain", "out_of_domain"):
            if name in self.fields and (data[name] or "").strip() not in ("", self.fields[name].initial):
                recipe[name] = data[name].strip()
        filters = {k: _split_names(data[k]) for k in ("tags", "exclude_tags") if _split_names(data[k])}
        if filters:
            recipe["filters"] = filters
        splits = {k: data[k] for k in ("train", "dev", "test") if data[k] is not None}
        if splits and splits != {"train": 0.8, "dev": 0.1, "test": 0.1}:
            recipe["splits"] = splits
        if (data["group_by"] or "").strip():  # checked by recipe_parse, which names splits.group_by
            recipe.setdefault("splits", {})["group_by"] = data["group_by"]
        if data["formats"] and sorted(data["formats"]) != sorted(self.fields["formats"].initial):
            recipe["formats"] = data["formats"]
        return recipe


class WebhookForm(forms.Form):
    url = forms.CharField(max_length=500, label="URL", help_text="http:// or https://")
