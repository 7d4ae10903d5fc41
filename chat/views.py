"""Staff pages of live chat: availability, transcript downloads, canned responses on a ticket.

Each view validates its input and calls one service or selector.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from chat import canned, services
from chat.models import AgentAvailability, CannedResponse, ChatTeam, ChatTranscript
from chat.routing import waiting_conversations
from tickets.models import OPEN_STATUSES, Channel, Ticket


class AvailabilityForm(forms.Form):
    status = forms.ChoiceField(choices=AgentAvailability.Status.choices, widget=forms.RadioSelect)
    capacity = forms.IntegerField(
        min_value=1, max_value=50, help_text="Open chats you take at most at the same time."
    )


@staff_member_required
@require_http_methods(["GET", "POST"])
def availability(request: HttpRequest) -> HttpResponse:
    """Show and save the current agent's chat status (available or away) and capacity."""
    current = AgentAvailability.objects.filter(user=request.user).first()  # type: ignore[misc]
    if request.method == "POST":
        form = AvailabilityForm(request.POST)
        if form.is_valid():
            services.set_availability(
                agent=request.user,  # type: ignore[arg-type]
                status=form.cleaned_data["status"],
                capacity=form.cleaned_data["capacity"],
            )
            messages.success(request, "Your chat availability is saved.")
            return redirect("chat:availability")
    else:
        form = AvailabilityForm(
            initial={
                "status": current.status if current else AgentAvailability.Status.AWAY,
                "capacity": current.capacity if current else None,
            }
        )
        if current is None:
            form.initial["capacity"] = AgentAvailability._meta.get_field("capacity").get_default()
    open_chats = Ticket.objects.filter(
        assignee=request.user,
        channel=Channel.CHAT,
        status__in=OPEN_STATUSES,  # type: ignore[misc]
    ).order_by("received_at")
    teams = list(ChatTeam.objects.filter(members=request.user))  # type: ignore[misc]
    waiting = dict(
        waiting_conversations()
        .filter(ticket__category__in=[team.category for team in teams])
        .values_list("ticket__category")
        .annotate(total=Count("pk"))
        .values_list("ticket__category", "total")
    )
    team_rows = [{"team": team, "waiting": waiting.get(team.category, 0)} for team in teams]
    return render(
        request,
        "chat/availability.html",
        {"form": form, "open_chats": open_chats, "teams": team_rows, "title": "Chat availability"},
    )


@staff_member_required
def download_transcript(request: HttpRequest, transcript_id: int, fmt: str) -> HttpResponse:
    """Send the stored transcript exactly as hashed, as text/plain or application/json."""
    transcript = get_object_or_404(ChatTranscript, pk=transcript_id)
    if transcript.purged_at is not None:
        raise Http404("This transcript was purged after the retention period.")
    if fmt == "txt":
        body, content_type = transcript.text, "text/plain; charset=utf-8"
    elif fmt == "json":
        body, content_type = transcript.json_text, "application/json; charset=utf-8"
    else:
        raise Http404("Transcripts download as txt or json.")
    response = HttpResponse(body.encode("utf-8"), content_type=content_type)
    filename = f"transcript-{transcript.ticket_reference}-{transcript.sequence}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-SHA256"] = (
        transcript.text_sha256 if fmt == "txt" else transcript.json_sha256
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@staff_member_required
def ticket_canned(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Canned responses rendered for one ticket, its category's first."""
    ticket = get_object_or_404(Ticket.objects.select_related("contact"), pk=ticket_id)
    values = canned.placeholder_values(ticket=ticket, agent=request.user)  # type: ignore[arg-type]
    entries = []
    for response in canned.responses_for(category=ticket.category):
        try:
            text, error = canned.render_body(response.body, values), ""
        except ValidationError as exc:
            text, error = "", " ".join(exc.messages)
        entries.append({"response": response, "text": text, "error": error})
    return render(
        request,
        "chat/ticket_canned.html",
        {
            "ticket": ticket,
            "entries": entries,
            "used": request.session.pop("chat_canned_used", None),
            "title": f"Canned responses for {ticket.reference}",
        },
    )


@staff_member_required
@require_POST
def use_canned(request: HttpRequest, ticket_id: int, response_id: int) -> HttpResponse:
    """Count a use of a canned response on a ticket and show its text ready to paste."""
    ticket = get_object_or_404(Ticket.objects.select_related("contact"), pk=ticket_id)
    response = get_object_or_404(CannedResponse, pk=response_id)
    try:
        rendered = canned.use_canned_response(response=response, ticket=ticket, agent=request.user)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages.error(request, f"{response.title} cannot be used: {' '.join(exc.messages)}")
    else:
        request.session["chat_canned_used"] = {"title": response.title, "text": rendered.text}
    return redirect("chat:ticket_canned", ticket_id=ticket.pk)
