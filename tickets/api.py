"""A read-only JSON API over the queue for staff tools and reporting scripts."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import pagination, serializers, viewsets
from rest_framework.permissions import IsAdminUser

from tickets.models import (
    Attachment,
    Category,
    Channel,
    Message,
    Source,
    Status,
    Ticket,
    TicketEvent,
)


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "sha256", "inline"]


class MessageSerializer(serializers.ModelSerializer):
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "is_public",
            "kind",
            "author_kind",
            "author_name",
            "author_email",
            "subject",
            "body_text",
            "message_id",
            "sent_at",
            "received_at",
            "attachments",
        ]


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketEvent
        fields = ["kind", "actor_label", "old_value", "new_value", "reason", "occurred_at"]


class TicketSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    contact_email = serializers.CharField(source="contact.email", default="", read_only=True)
    assignee = serializers.CharField(source="assignee.username", default=None, read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "source",
            "channel",
            "external_id",
            "subject",
            "category",
            "category_reason",
            "status",
            "priority",
            "contact_email",
            "assignee",
            "escalation_level",
            "created_in_source_at",
            "received_at",
            "last_message_at",
            "message_count",
            "sla_policy",
            "sla_state",
            "sla_due_at",
            "sla_responded_at",
        ]


class TicketDetailSerializer(TicketSerializer):
    messages = MessageSerializer(many=True, read_only=True)
    events = EventSerializer(many=True, read_only=True)

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "messages", "events"]


class NewestFirstPagination(pagination.CursorPagination):
    # A cursor needs no COUNT(*) over the whole queue, unlike page numbers.
    ordering = ("-received_at", "-id")
    page_size = 50


FILTERS = {
    "status": Status,
    "category": Category,
    "source": Source,
    "channel": Channel,
}


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(name, str, enum=list(choices.values), description=f"Only this {name}.")
            for name, choices in FILTERS.items()
        ]
    )
)
class TicketViewSet(viewsets.ReadOnlyModelViewSet):
    """Tickets, newest first; filter with ?status=, ?category=, ?source= and ?channel=."""

    permission_classes = [IsAdminUser]
    pagination_class = NewestFirstPagination

    def get_queryset(self) -> QuerySet[Ticket]:
        tickets = Ticket.objects.select_related("contact", "assignee")
        for name in FILTERS:
            value = self.request.query_params.get(name)
            if value:
                tickets = tickets.filter(**{name: value})
        if self.action == "retrieve":
            tickets = tickets.prefetch_related("messages__attachments", "events")
        return tickets

    def get_serializer_class(self) -> type[serializers.ModelSerializer]:
        return TicketDetailSerializer if self.action == "retrieve" else TicketSerializer
