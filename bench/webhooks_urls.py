"""The hub's URLs plus /bench/minimal-post, the smallest Django view that takes a POST body."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from impactsupport.urls import urlpatterns as hub_urlpatterns


@csrf_exempt
def minimal_post(request: HttpRequest) -> HttpResponse:
    # Reads the body like the webhook view does, and stores nothing.
    request.read()
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/minimal-post", minimal_post), *hub_urlpatterns]
