from django.urls import path

from analysis.api import agreement, maps
from analysis.api import dashboard as dashboard_api
from analysis.api import drift as drift_api
from analysis.api import error_analysis as error_analysis_api
from analysis.api import planning as planning_api

app_name = "analysis-api"

urlpatterns = [
    path("projects/<int:project_id>/agreement/", agreement.AgreementReportApi.as_view(), name="agreement"),
    path("projects/<int:project_id>/embeddings/", maps.EmbeddingPushApi.as_view(), name="embeddings"),
    path("projects/<int:project_id>/embedders/", maps.EmbedderListApi.as_view(), name="embedders"),
    path("projects/<int:project_id>/maps/", maps.MapListApi.as_view(), name="map-list"),
    path("projects/<int:project_id>/maps/<int:map_id>/", maps.MapDetailApi.as_view(), name="map-detail"),
    path("projects/<int:project_id>/label-issues/", maps.LabelIssuesApi.as_view(), name="label-issues"),
    path("projects/<int:project_id>/selection/", maps.SelectionApi.as_view(), name="selection"),
    # Error analysis, shadow comparison, planning, drift and the dashboard (issue 8).
    path(
        "projects/<int:project_id>/error-analysis/",
        error_analysis_api.ErrorAnalysisApi.as_view(),
        name="error-analysis",
    ),
    path(
        "projects/<int:project_id>/model-runs/compare/",
        error_analysis_api.ModelRunCompareApi.as_view(),
        name="model-run-compare",
    ),
    path("projects/<int:project_id>/planning/", planning_api.PlanningApi.as_view(), name="planning"),
    path("projects/<int:project_id>/drift/", drift_api.DriftApi.as_view(), name="drift"),
    path("projects/<int:project_id>/dashboard/", dashboard_api.DashboardApi.as_view(), name="dashboard"),
]
