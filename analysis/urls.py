from django.urls import path

from analysis import views, views_review, views_training

urlpatterns = [
    path("projects/<int:project_id>/agreement/", views.agreement_page, name="agreement"),
    path("projects/<int:project_id>/agreement.csv", views.agreement_download, {"fmt": "csv"}, name="agreement-csv"),
    path("projects/<int:project_id>/agreement.json", views.agreement_download, {"fmt": "json"}, name="agreement-json"),
    path("projects/<int:project_id>/map/", views.map_page, name="map"),
    path("projects/<int:project_id>/map/<int:map_id>/", views.map_page, name="map-detail"),
    path("projects/<int:project_id>/map/<int:map_id>/data.json", views.map_data, name="map-data"),
    path("projects/<int:project_id>/map/items/<int:item_id>.json", views.map_item, name="map-item"),
    path("projects/<int:project_id>/dashboard/", views.dashboard_page, name="dashboard"),
    path("projects/<int:project_id>/error-analysis/", views.error_analysis_page, name="error-analysis"),
    path("projects/<int:project_id>/planning/", views.planning_page, name="planning"),
    path("projects/<int:project_id>/drift/", views.drift_page, name="drift"),
]

# Training jobs (analysis/views_training.py) and the label-consistency workflow (analysis/views_review.py).
P = "projects/<int:project_id>/"
urlpatterns += [
    path(P + "training/", views_training.training, name="training"),
    path(P + "review/", views_review.review_queue_page, name="review"),
    path(P + "review/<int:item_id>/", views_review.review_item_page, name="review-item"),
    path(P + "guidelines/", views_review.guidelines_page, name="guidelines"),
    path(P + "taxonomy/", views_review.taxonomy_page, name="taxonomy"),
    path(P + "conventions/", views_review.conventions_page, name="conventions"),
    path(P + "campaigns/", views_review.campaigns_page, name="campaigns"),
    path(P + "campaigns/<int:campaign_id>/", views_review.campaign_page, name="campaign"),
]
