"""The organizer's forms offer only what the configured engine can serve."""

from __future__ import annotations

import pytest
from django.forms import inlineformset_factory

from captions.forms import EventForm, EventLanguageForm, EventLanguageFormSet
from captions.models import Event, EventLanguage

pytestmark = pytest.mark.django_db


def formset(event: Event, codes: list[str]):
    factory = inlineformset_factory(
        Event, EventLanguage, form=EventLanguageForm, formset=EventLanguageFormSet, extra=0
    )
    data = {
        "languages-TOTAL_FORMS": str(len(codes)),
        "languages-INITIAL_FORMS": "0",
        **{f"languages-{i}-code": code for i, code in enumerate(codes)},
    }
    return factory(data, instance=event, prefix="languages")


def test_the_spoken_language_must_be_one_the_engine_hears():
    form = EventForm(
        data={
            "title": "Talk",
            "slug": "abc234",
            "source_language": "xx",
            "profanity": "masked",
            "status": "waiting",
        }
    )
    assert not form.is_valid()
    assert "source_language" in form.errors
    assert ("en", "en — English (English)") in form.fields["source_language"].choices


def test_audience_languages_are_limited_to_the_engines_targets():
    event = Event.objects.create(title="Talk", source_language="en")
    assert formset(event, ["es", "fr"]).is_valid()
    assert not formset(event, ["zh"]).is_valid()
