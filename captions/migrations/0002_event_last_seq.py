"""Utterance numbers move from a Redis counter to the event row."""

from django.db import migrations, models
from django.db.models import Max


def continue_after_stored_captions(apps, schema_editor):
    Event = apps.get_model("captions", "Event")
    for event in Event.objects.annotate(stored=Max("captions__seq")).exclude(stored=None):
        Event.objects.filter(pk=event.pk).update(last_seq=event.stored)


class Migration(migrations.Migration):
    dependencies = [("captions", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="event",
            name="last_seq",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(continue_after_stored_captions, migrations.RunPython.noop),
    ]
