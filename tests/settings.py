"""Settings for the test suite: the real Redis under a test-only prefix, the scripted engine."""

import os
import uuid

os.environ.setdefault("CAPTIONS_TEST_RUN", uuid.uuid4().hex[:8])
os.environ.setdefault("CHANNEL_LAYER_PREFIX", "test-" + os.environ["CAPTIONS_TEST_RUN"])
os.environ.setdefault("CAPTION_ENGINE", "tests.fake_engine.ScriptedEngine")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")

from presenter_site.env import env_str  # noqa: E402
from presenter_site.settings import *  # noqa: E402,F403

# The scripted engine yields each final this many seconds late (tests/test_browser_delay.py).
_FINAL_HOLD = env_str("SCRIPTED_FINAL_HOLD", "0", pattern=r"\d{1,2}(\.\d{1,3})?")
if CAPTION_ENGINE["BACKEND"] == "tests.fake_engine.ScriptedEngine":  # noqa: F405
    CAPTION_ENGINE = {**CAPTION_ENGINE, "OPTIONS": {"final_hold": float(_FINAL_HOLD)}}  # noqa: F405
    ENGINE_PRELOAD = False  # tests/test_pipeline.py counts its prepare() calls

CAPTIONS_REDIS_PREFIX = "test-captions-" + os.environ["CAPTIONS_TEST_RUN"]
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
