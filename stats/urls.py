"""The stats app's pages: the staff's stats page, the public gallery, /metrics."""

from __future__ import annotations

from django.urls import path

from stats import views

app_name = "stats"

urlpatterns = [
    # Before the admin's own URLs, which would otherwise claim admin/stats/.
    path("admin/stats/", views.stats_page, name="page"),
    path("admin/stats/gallery", views.gallery_sharing, name="gallery_sharing"),
    path(
        "admin/stats/refused-addresses/release",
        views.refused_address_forget,
        name="refused_address_release",
    ),
    path("gallery/", views.gallery_page, name="gallery"),
    path("gallery/data", views.gallery_data, name="gallery_data"),
    path("gallery/thumbnails/<uuid:job_id>", views.gallery_thumbnail, name="gallery_thumbnail"),
    path("metrics", views.metrics, name="metrics"),
]
