"""Forms of the measuring side's pages: a training job."""

import json

from django import forms

from labeling.choices import Trainer


class TrainingForm(forms.Form):
    version = forms.ChoiceField()
    trainer = forms.ChoiceField(choices=Trainer.choices, initial=Trainer.LOGISTIC_REGRESSION)
    params = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": '{"C": 1.0}'}),
        help_text="parameters as JSON (optional)",
    )

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(str(v.number), f"v{v.number}") for v in versions]

    def clean_params(self):
        text = self.cleaned_data.get("params", "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("parameters are a JSON object")
        return value
