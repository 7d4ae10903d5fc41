from django.urls import path

from tickets import views

app_name = "tickets"

urlpatterns = [
    path("staff/attachments/<int:attachment_id>", views.download_attachment, name="attachment"),
]
