from django import forms

from labeling.models import DataSource


class SourceForm(forms.ModelForm):
    class Meta:
        model = DataSource
        fields = [
            "name",
            "kind",
            "status",
            "planned_amount",
            "unit",
            "total_cost",
            "currency",
            "turnaround_days",
            "quality_notes",
            "contains_personal_data",
            "licence",
            "regulatory_notes",
        ]
        widgets = {
            "quality_notes": forms.Textarea(attrs={"rows": 2}),
            "licence": forms.Textarea(attrs={"rows": 2}),
            "regulatory_notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.project = project
