"""Settings of bench/endpoint.py: the project's settings with a URLconf that adds one static DRF view.

    DJANGO_SETTINGS_MODULE=bench.endpoint_settings PYTHONPATH=/work/main gunicorn karen.wsgi:application

KAREN_BENCH_THROTTLES=off drops DRF's throttle classes (on both views), to see
the extension machinery's cost without the throttle's per-request cache work.
"""

import os

from karen.settings import *  # noqa: F403

ROOT_URLCONF = "bench.endpoint_urls"

if os.environ.get("KAREN_BENCH_THROTTLES", "on") == "off":
    REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}  # noqa: F405
