"""URLs of the help centre's own host (HELP_CENTRE_HOST): the same pages at the root."""

from django.urls import include, path

urlpatterns = [
    path("", include("faq.urls")),
]
