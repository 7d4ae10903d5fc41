from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("staff/chat/availability", views.availability, name="availability"),
    path(
        "staff/chat/transcripts/<int:transcript_id>.<str:fmt>",
        views.download_transcript,
        name="transcript",
    ),
    path("staff/chat/tickets/<int:ticket_id>/canned", views.ticket_canned, name="ticket_canned"),
    path(
        "staff/chat/tickets/<int:ticket_id>/canned/<int:response_id>/use",
        views.use_canned,
        name="use_canned",
    ),
]
