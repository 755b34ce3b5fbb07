from django.contrib import admin
from django.urls import path

from photochanger.api import api
from photochanger.views import json_not_found, json_server_error

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", api.urls),
]

handler404 = json_not_found
handler500 = json_server_error
