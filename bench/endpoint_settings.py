"""Settings of bench/endpoint.py: the project's settings with a URLconf that adds one static DRF view.

DJANGO_SETTINGS_MODULE=bench.endpoint_settings PYTHONPATH=/work/main gunicorn karen.wsgi:application
"""

from karen.settings import *  # noqa: F403

ROOT_URLCONF = "bench.endpoint_urls"
