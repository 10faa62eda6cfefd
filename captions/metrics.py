"""Prometheus metrics for operators, served at /metrics (captions/metrics_endpoint.py).

Several server processes on one machine share one PROMETHEUS_MULTIPROC_DIR, emptied before
they start (scripts/run.sh does it): each process writes its figures there, and the endpoint of
any of them answers with the sum of all (prometheus_client's multiprocess mode). A process that
exits takes its gauges with it (``mark_process_dead``); its counters stay, as counters should.
Containers each have their own directory and are scraped one by one (docs: README, "Metrics").

The functions below are the whole API; callers never touch the metric objects.
"""

from __future__ import annotations

import atexit
import collections
import os
import threading
import weakref

from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram, multiprocess

# prometheus_client reads the same variable itself, when it is imported.
MULTIPROCESS = bool(settings.PROMETHEUS_MULTIPROC_DIR)

LISTENERS = Gauge(
    "captions_listeners",
    "Listener connections, by event and language",
    ["event", "language"],
    multiprocess_mode="livesum",
)
MESSAGES_SENT = Counter(
    "captions_messages_sent", "Messages handed to listener connections", ["language"]
)
DELIVERY_DELAY = Histogram(
    "captions_delivery_delay_seconds",
    "From the arrival of the audio of a final's last word to its delivery to listeners",
    ["language"],
    buckets=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0, 30.0),
)
ENGINE_AUDIO = Counter("captions_engine_audio_seconds", "Seconds of audio the engine decoded")
ENGINE_COMPUTE = Counter(
    "captions_engine_compute_seconds", "Seconds the engine spent decoding that audio"
)
ENGINE_RTF = Histogram(
    "captions_engine_realtime_factor",
    "Compute seconds per second of audio, per decoding pass (over 1: slower than real time)",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
)
DECODE_QUEUE = Gauge(
    "captions_engine_decode_queue_seconds",
    "Seconds of audio received and not yet decoded, over every session",
    multiprocess_mode="livesum",
)
PARTIALS_DROPPED = Counter(
    "captions_partials_dropped",
    "Partials dropped: by the engine when it falls behind, by the publisher while Redis is away",
    ["stage"],
)
REDIS_ERRORS = Counter("captions_redis_errors", "Failed Redis operations", ["component"])
FANOUT_RECONNECTS = Counter(
    "captions_fanout_reconnects", "Times a process's caption subscription came back after a fault"
)
SLOW_LISTENERS = Counter(
    "captions_listeners_dropped_slow", "Listeners dropped for not reading their captions"
)
CORRECTIONS = Counter("captions_corrections", "Finals corrected from the console")

_listeners: collections.Counter[tuple[str, str]] = collections.Counter()
_queues: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()
_queues_lock = threading.Lock()  # sessions may report from their inference threads


class _AnySession:
    """The key of queue lengths reported without a session."""


_NO_SESSION = _AnySession()


def listener_joined(event: str, language: str) -> None:
    """Called when a listener of ``event`` (its slug) in ``language`` connects."""
    _listeners[event, language] += 1
    LISTENERS.labels(event, language).set(_listeners[event, language])


def listener_left(event: str, language: str) -> None:
    """Called when that listener leaves; an event and language without listeners goes away."""
    _listeners[event, language] -= 1
    LISTENERS.labels(event, language).set(max(_listeners[event, language], 0))
    if _listeners[event, language] <= 0:
        del _listeners[event, language]
        if not MULTIPROCESS:  # a multiprocess file keeps the series, at 0, until restart
            LISTENERS.remove(event, language)


def count_sent(language: str, listeners: int) -> None:
    """Called once per message and stream with the number of local listeners it went to."""
    MESSAGES_SENT.labels(language).inc(listeners)


def observe_delivery(language: str, seconds: float) -> None:
    """A final in ``language`` reached this process's listeners ``seconds`` after its audio."""
    DELIVERY_DELAY.labels(language).observe(max(seconds, 0.0))


def observe_engine_rtf(seconds_audio: float, seconds_compute: float) -> None:
    """The engine decoded ``seconds_audio`` of audio in ``seconds_compute`` (one pass)."""
    if seconds_audio <= 0:
        return
    ENGINE_AUDIO.inc(seconds_audio)
    ENGINE_COMPUTE.inc(max(seconds_compute, 0.0))
    ENGINE_RTF.observe(max(seconds_compute, 0.0) / seconds_audio)


def set_decode_queue(seconds: float, session: object | None = None) -> None:
    """``session`` holds ``seconds`` of audio not yet decoded; the gauge sums every session.

    Safe from any thread. A session that is garbage-collected stops counting by itself; one
    that ends should still report 0.
    """
    with _queues_lock:
        _queues[_NO_SESSION if session is None else session] = max(seconds, 0.0)
        DECODE_QUEUE.set(sum(_queues.values()))


def count_dropped_partial(stage: str = "engine", n: int = 1) -> None:
    """``n`` partials were dropped at ``stage`` ("engine" or "publisher")."""
    PARTIALS_DROPPED.labels(stage).inc(n)


def count_redis_error(component: str) -> None:
    """A Redis operation of ``component`` (publisher, fanout, presence, delay) failed."""
    REDIS_ERRORS.labels(component).inc()


def count_fanout_reconnect() -> None:
    """This process's caption subscription is back after a fault."""
    FANOUT_RECONNECTS.inc()


def count_slow_listener() -> None:
    """A listener was dropped for not reading fast enough."""
    SLOW_LISTENERS.inc()


def count_correction() -> None:
    """A final was corrected (from the console)."""
    CORRECTIONS.inc()


if MULTIPROCESS:
    atexit.register(multiprocess.mark_process_dead, os.getpid())
