"""Settings for bench/webhooks.py: the hub's settings plus a minimal view to compare with."""

from impactsupport.settings import *  # noqa: F403

ROOT_URLCONF = "bench.webhooks_urls"
DEBUG = False
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
