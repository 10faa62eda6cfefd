"""Events get organizers and per-event permissions; speech is offered per language (issue 9).

Existing events have no organizers (superusers, and users given the permissions, run them)
and offer no speech until an organizer turns it on for a language.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('captions', '0002_event_last_seq'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='event',
            options={'ordering': ['-created_at'], 'permissions': [('present_event', 'Can present any event and end it'), ('export_transcript', 'Can download the transcripts of any event')]},
        ),
        migrations.AddField(
            model_name='event',
            name='organizers',
            field=models.ManyToManyField(blank=True, related_name='organized_events', to=settings.AUTH_USER_MODEL, verbose_name='organizers'),
        ),
        migrations.AddField(
            model_name='eventlanguage',
            name='speech',
            field=models.BooleanField(default=False, verbose_name='offer synthesized speech'),
        ),
    ]
