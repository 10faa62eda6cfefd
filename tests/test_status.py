"""One reading of an event's status: the stored choice, believed "live" only with a presenter."""

from __future__ import annotations

import pytest

from captions import lease
from captions.models import EventStatus
from captions.status import PRESENTER_LOST, Status, effective, read_status, write_status


def test_live_without_a_presenter_reads_as_paused_because_the_presenter_is_lost():
    assert effective(EventStatus.LIVE, False) == Status(EventStatus.PAUSED, PRESENTER_LOST)


def test_live_with_a_presenter_or_with_redis_unreachable_reads_as_stored():
    assert effective(EventStatus.LIVE, True) == Status(EventStatus.LIVE)
    assert effective(EventStatus.LIVE, None) == Status(EventStatus.LIVE)


def test_other_states_read_as_stored_whoever_holds_the_event():
    for state in (EventStatus.WAITING, EventStatus.PAUSED, EventStatus.ENDED):
        assert effective(state, False) == Status(state)


@pytest.mark.django_db(transaction=True)
async def test_the_admins_status_and_the_presenters_are_read_the_same_way(event):
    languages = ["en", "es", "fr"]
    await write_status(event.id, languages, Status(EventStatus.LIVE))
    assert await read_status(event.id) == Status(EventStatus.PAUSED, PRESENTER_LOST)
    token = lease.new_token()
    await lease.take(event.id, token)
    assert await read_status(event.id) == Status(EventStatus.LIVE)
    await write_status(event.id, languages, Status(EventStatus.ENDED))
    assert await read_status(event.id) == Status(EventStatus.ENDED)
    await lease.release(event.id, token)
