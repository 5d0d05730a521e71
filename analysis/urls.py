from django.urls import path

from analysis import views

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
