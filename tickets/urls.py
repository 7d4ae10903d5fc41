from django.urls import path

from tickets import report_views, views

app_name = "tickets"

urlpatterns = [
    path("staff/attachments/<int:attachment_id>", views.download_attachment, name="attachment"),
    path("staff/reports/sla", report_views.sla_report, name="sla_report"),
    path(
        "staff/reports/sla/figures.csv",
        report_views.sla_report_figures_csv,
        name="sla_report_figures_csv",
    ),
    path(
        "staff/reports/sla/tickets.csv",
        report_views.sla_report_tickets_csv,
        name="sla_report_tickets_csv",
    ),
]
