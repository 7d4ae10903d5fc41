"""The public contact form."""

from __future__ import annotations

from django import forms

from tickets.models import Category

TICKET_CATEGORIES = [
    (value, label) for value, label in Category.choices if value != Category.UNCATEGORISED
]
HONEYPOT_FIELD = "website"


class ContactForm(forms.Form):
    name = forms.CharField(
        max_length=200, label="Your name", widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(
        max_length=254,
        label="E-mail address",
        help_text="We reply to this address.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    category = forms.ChoiceField(
        choices=[("", "Choose a topic")] + TICKET_CATEGORIES, label="What is it about?"
    )
    message = forms.CharField(
        min_length=10,
        max_length=5000,
        label="Your message",
        help_text=(
            "Include any reference numbers, amounts and dates. "
            "Never send card numbers or passwords."
        ),
        widget=forms.Textarea(attrs={"rows": 7}),
    )
    # Hidden from people by CSS; software that fills every field fills this one too.
    website = forms.CharField(required=False, label="Leave this field empty", max_length=200)

    def clean_website(self) -> str:
        value: str = self.cleaned_data.get(HONEYPOT_FIELD, "")
        if value.strip():
            raise forms.ValidationError("Leave this field empty.")
        return value
