from django.urls import path

from analysis.api import agreement, maps, review, training
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

# Training jobs, model runs and the label-consistency workflow (review.py). Their names live in the `api`
# namespace, as before they moved here from labeling (templates and clients reverse `api:decision`,
# `api:campaign-list`): labelhub/urls.py includes them with labeling/api/urls.py.
P = "projects/<int:project_id>/"
api_namespace_routes = [
    path(P + "training-jobs/", training.TrainingJobListApi.as_view(), name="training-job-list"),
    path(P + "training-jobs/<int:training_id>/", training.TrainingJobDetailApi.as_view(), name="training-job-detail"),
    path(
        P + "training-jobs/<int:training_id>/retry/", training.TrainingJobRetryApi.as_view(), name="training-job-retry"
    ),
    path(P + "model-runs/", training.ModelRunListApi.as_view(), name="model-run-list"),
    path(P + "model-runs/<int:run_id>/", training.ModelRunDetailApi.as_view(), name="model-run-detail"),
    path("projects/<int:project_id>/review-queue/", review.ReviewQueueApi.as_view(), name="review-queue"),
    path("items/<int:item_id>/decision/", review.DecisionApi.as_view(), name="decision"),
    path("projects/<int:project_id>/guidelines/", review.GuidelineListApi.as_view(), name="guideline-list"),
    path(
        "projects/<int:project_id>/guidelines/<int:version>/diff/",
        review.GuidelineDiffApi.as_view(),
        name="guideline-diff",
    ),
    path(
        "projects/<int:project_id>/guidelines/<int:version>/examples/",
        review.GuidelineExampleApi.as_view(),
        name="guideline-examples",
    ),
    path(
        "projects/<int:project_id>/taxonomy-changes/", review.TaxonomyChangeListApi.as_view(), name="taxonomy-changes"
    ),
    path(
        "projects/<int:project_id>/taxonomy-changes/suggestions/",
        review.MergeSuggestionsApi.as_view(),
        name="taxonomy-suggestions",
    ),
    path(
        "projects/<int:project_id>/taxonomy-changes/<int:number>/undo/",
        review.TaxonomyUndoApi.as_view(),
        name="taxonomy-undo",
    ),
    path("projects/<int:project_id>/conventions/", review.ConventionsApi.as_view(), name="conventions"),
    path("projects/<int:project_id>/campaigns/", review.CampaignListApi.as_view(), name="campaign-list"),
    path(
        "projects/<int:project_id>/campaigns/<int:campaign_id>/",
        review.CampaignDetailApi.as_view(),
        name="campaign-detail",
    ),
    path(
        "projects/<int:project_id>/campaigns/<int:campaign_id>/finish/",
        review.CampaignFinishApi.as_view(),
        name="campaign-finish",
    ),
]
