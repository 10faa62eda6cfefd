"""Organizer forms that offer only the languages the configured engine can serve."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import get_language_info
from django.utils.translation import gettext_lazy as _

from .engines import get_engine
from .models import Event, EventLanguage


def language_label(code: str) -> str:
    """'es — Spanish (español)' where Django knows the language, else the code."""
    try:
        info = get_language_info(code.lower())  # Django knows zh-hant, not zh-Hant
    except KeyError:
        return code
    return f"{code} — {info['name']} ({info['name_local']})"


def source_choices() -> list[tuple[str, str]]:
    sources = get_engine().language_support().sources
    return [(code, language_label(code)) for code in sorted(sources)]


def target_choices() -> list[tuple[str, str]]:
    support = get_engine().language_support()
    targets = set().union(*support.sources.values()) if support.sources else set()
    return [(code, language_label(code)) for code in sorted(targets)]


class EventForm(forms.ModelForm):
    """The event form: the spoken language is one the engine hears."""

    class Meta:
        model = Event
        fields = ["title", "slug", "source_language", "profanity", "status", "hold_seconds"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source_language"] = forms.ChoiceField(
            label=_("spoken language"), choices=source_choices()
        )
        self.fields["hold_seconds"].required = False  # left out: no hold

    def clean_hold_seconds(self) -> int:
        return self.cleaned_data.get("hold_seconds") or 0


class EventLanguageForm(forms.ModelForm):
    """One audience language, chosen among the engine's translation targets."""

    class Meta:
        model = EventLanguage
        fields = ["code"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"] = forms.ChoiceField(label=_("language"), choices=target_choices())


class EventLanguageFormSet(BaseInlineFormSet):
    """Checks every audience language against the engine's pairs for the spoken language."""

    def clean(self) -> None:
        super().clean()
        source = self.instance.source_language
        allowed = get_engine().language_support().targets_for(source) | {source}
        for form in self.forms:
            code = form.cleaned_data.get("code") if hasattr(form, "cleaned_data") else None
            if code and not form.cleaned_data.get("DELETE") and code not in allowed:
                raise ValidationError(
                    _("The engine cannot translate %(source)s into %(target)s.")
                    % {"source": source, "target": code}
                )
