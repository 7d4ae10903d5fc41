"""URLs of the main host: admin, API, webhooks and the help centre under /help/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from faq import views as faq_views
from impactsupport import views
from tickets.api import TicketViewSet

api = DefaultRouter()
api.register("tickets", TicketViewSet, basename="ticket")

admin.site.site_header = "ImpactLink Support Hub"
admin.site.site_title = "ImpactLink Support"
admin.site.index_title = "Queue and settings"
# The queue needs the full width; the app list stays one click away on the admin index.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("robots.txt", faq_views.robots_txt),
    path("sitemap.xml", faq_views.sitemap_xml),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include(api.urls)),
    path("hooks/", include("integrations.urls")),
    path("help/", include("faq.urls")),
    path("", include("tickets.urls")),
    path("", include("chat.urls")),
]
