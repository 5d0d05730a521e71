from django.urls import path

from analysis.api import agreement

app_name = "analysis-api"

urlpatterns = [
    path("projects/<int:project_id>/agreement/", agreement.AgreementReportApi.as_view(), name="agreement"),
]
