"""Help centre URLs, included at /help/ on the main host and at the root of its own host."""

from django.urls import path, re_path

from faq import views

app_name = "faq"

urlpatterns = [
    path("", views.root, name="root"),
    path("faq", views.index, name="index"),
    path("faq/search", views.search, name="search"),
    path("faq/<slug:category>", views.category, name="category"),
    path("faq/<slug:category>/<slug:slug>", views.article, name="article"),
    path("faq/<slug:category>/<slug:slug>/vote", views.vote, name="vote"),
    path("contact", views.contact, name="contact"),
    path("contact/sent/<str:token>", views.contact_sent, name="contact_sent"),
    path("sitemap.xml", views.sitemap_xml, name="sitemap"),
    path("robots.txt", views.robots_txt, name="robots"),
    re_path(r"^(?P<path>(?:faq|contact)(?:/.*)?)/$", views.strip_trailing_slash),
]
