from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from ingest.views import result_page
from photochanger.api import api
from photochanger.views import json_not_found, json_server_error

urlpatterns = [
    # The stats page lives under admin/stats/, so it comes before the admin's catch-all.
    path("", include("stats.urls")),
    path("admin/", admin.site.urls),
    # What CommonMiddleware's APPEND_SLASH did for the address staff type (it is off: see
    # settings.MIDDLEWARE); the admin adds the slash itself past admin/.
    path("admin", RedirectView.as_view(pattern_name="admin:index")),
    # The guest page, before the API's catch-all. Anything under r/ gets its friendly 404.
    re_path(r"^r/(?P<job_id>.*?)/?$", result_page, name="guest_result_page"),
    # Django's set_language (POST /i18n/setlang/): the admin's English / Русский switch.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", api.urls),
]

handler404 = json_not_found
handler500 = json_server_error
