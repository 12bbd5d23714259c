"""Django settings, read from the environment (see README "Configuration").

With no environment set the platform runs embedded: SQLite in WAL mode and
Celery's filesystem transport under var/. DATABASE_URL and REDIS_URL switch to
the production stack (PostgreSQL; Redis as broker and cache).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url

from karen.environment import env_bool, env_choice, env_float, env_list, env_paths, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("KAREN_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Return SECRET_KEY, or a random key kept in var/ so sessions survive restarts."""
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Served over HTTPS (directly, or behind a proxy that terminates TLS) ----------------------------------
# KAREN_TLS=true turns on what `check --deploy` asks for; each part can be set on its own.
TLS = env_bool("KAREN_TLS", False)
SESSION_COOKIE_SECURE = env_bool("KAREN_SECURE_COOKIES", TLS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("KAREN_SSL_REDIRECT", TLS)
SECURE_HSTS_SECONDS = int(env_float("KAREN_HSTS_SECONDS", 31_536_000 if TLS else 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("KAREN_HSTS_INCLUDE_SUBDOMAINS", TLS)
SECURE_HSTS_PRELOAD = env_bool("KAREN_HSTS_PRELOAD", TLS)
# The header a TLS-terminating proxy sets to say the client used HTTPS, e.g. X-Forwarded-Proto. Set it only
# when the proxy always sets (or strips) it: a client could otherwise claim HTTPS.
_PROXY_SSL_HEADER = env_str("KAREN_PROXY_SSL_HEADER")
if _PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "extensions_core.apps.ControlRoomAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_celery_beat",
    "csp",
    "django_htmx",
    "extensions_core",
]

MIDDLEWARE = [
    "extensions_core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "extensions_core.middleware.RequestTextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "extensions_core.middleware.RegistrySyncMiddleware",
]

ROOT_URLCONF = "karen.urls"
WSGI_APPLICATION = "karen.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_float("DATABASE_CONN_MAX_AGE", 600),
        # A SELECT 1 at the start of each request that reuses a connection: one round trip, but a
        # connection the database dropped is replaced instead of failing the request.
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets web, worker and beat read while one of them writes; IMMEDIATE
        # takes the write lock at BEGIN so two writers queue instead of deadlocking.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not :memory:, so tests can share the database with real subprocesses.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker ---------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "karen.redis_cache.PooledRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("KAREN_CACHE_PREFIX", "karen"),
            # A request must not hang on an unreachable Redis: the rate limits then count per process.
            "OPTIONS": {
                "socket_connect_timeout": env_float("KAREN_REDIS_CONNECT_TIMEOUT_SECONDS", 0.5),
                "socket_timeout": env_float("KAREN_REDIS_TIMEOUT_SECONDS", 0.5),
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# The filesystem transport ignores the host, but kombu warns "No hostname was supplied" on every connection
# it clones from a URL without one (each publish, each worker and beat start): name the host it assumes anyway.
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost/"
if not REDIS_URL:
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The transport polls its folder; the default 1 s would add half a second to every run.
        "polling_interval": 0.05,
    }
else:
    # Connect fast or fail fast: an enqueue during a Redis outage must not hang a request (the row stays
    # pending and the reaper sends it later). The worst publish (a frozen host: one socket timeout, then a
    # reconnect that times out) stays under 5 s.
    # No ack emulation: the database row, not the broker, keeps a run. kombu's emulation writes every delivered
    # message to an "unacked" hash and deletes it at the ack (two MULTI/EXEC round trips per message, about 1 ms
    # of the worker's consumer per run, bench/tasks.py) only to send it again an hour after its worker died;
    # the reaper already resends a pending run whose message is gone (30 s), and a second delivery cannot run
    # a task twice. A worker that stops normally still puts the messages it held back in the queue.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 3, "ack_emulation": False}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "extensions_core.beat:PlatformScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Keep the worker's database connection between tasks (Celery closes it around every task otherwise:
# 176 vs 937 row-writing tasks/s on PostgreSQL here, DESIGN.md §9); it is still recycled every 2×N tasks.
CELERY_DB_REUSE_MAX = int(env_float("KAREN_CELERY_DB_REUSE_MAX", 1000))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker reconnects to the broker for as long as it is down (Celery gives up after 100 tries by default),
# trying every 0.5-2 s rather than Celery's up to 30 s, so it is consuming again soon after the broker returns.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CONSUMER = "extensions_core.workers:PlatformConsumer"

# --- Auth, API ----------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
GUARDIAN_RAISE_403 = False
# The largest request body read (JSON and forms alike); past it the API answers 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env_float("KAREN_MAX_REQUEST_BYTES", 2_621_440))

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Token first: its WWW-Authenticate header makes missing credentials a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "extensions_core.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "extensions_core.api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "extensions_core.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "extensions_core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "extensions_core.api.throttling.AnonRateThrottle",
        "extensions_core.api.throttling.UserRateThrottle",
    ],
    # How many proxies in front of the web processes set X-Forwarded-For: the client address is the one they saw.
    # 0 (the default) uses the socket's address and ignores the header, which any client can forge.
    "NUM_PROXIES": int(env_float("KAREN_TRUSTED_PROXIES", 0)),
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("KAREN_THROTTLE_ANON", "120/min"),
        "user": env_str("KAREN_THROTTLE_USER", "6000/min"),
        "login": env_str("KAREN_THROTTLE_LOGIN", "10/min"),
    },
}
REST_KNOX = {
    "TOKEN_TTL": None,  # expiry is chosen per token (tokens create --expires-days)
    "TOKEN_PREFIX": "karen_",
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Karen Extensions API",
    "DESCRIPTION": (
        "Manage extensions, call their endpoints and run their background tasks. Authenticate with "
        "`Authorization: Token <token>` (`manage.py tokens create USERNAME`) or a session."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc assets served by the platform itself, not fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "DEFAULT_GENERATOR_CLASS": "extensions_core.api.schema.PlatformSchemaGenerator",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "extensions_core.api.schema.document_throttling",
        "extensions_core.api.schema.document_closed_request_bodies",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ExtensionStatusEnum": "extensions_core.models.Extension.Status",
        "HealthStatusEnum": ["ok", "degraded", "down"],
        "ExecutionStatusEnum": "extensions_core.models.TaskExecution.Status",
        "EventSourceEnum": "extensions_core.models.Event.Source",
        "TriggerSourceEnum": "extensions_core.models.EventTrigger.Source",
        "TaskHealthStatusEnum": ["ok", "degraded"],
    },
}

# --- Content-Security-Policy (django-csp): every page, the admin and the API docs included ---------------
# Scripts only from this site (the admin, the browsable API, Swagger UI and Redoc load theirs as files; none
# comes from a CDN); inline style attributes are allowed (the admin and Swagger UI use them).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Static files, i18n -------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Times in the admin carry seconds (karen/formats/en/formats.py).
FORMAT_MODULE_PATH = ["karen.formats"]

# --- Extensions ---------------------------------------------------------------

EXTENSIONS = {
    "DIRS": env_paths("KAREN_EXTENSION_DIRS", [BASE_DIR / "extensions"], BASE_DIR),
    "LOAD_TIMEOUT_SECONDS": env_float("KAREN_LOAD_TIMEOUT_SECONDS", 10.0),
    "CHANGE_CHECK_INTERVAL_SECONDS": env_float("KAREN_CHANGE_CHECK_INTERVAL_SECONDS", 0.2),
    "AUTO_ENABLE_DISCOVERED": env_bool("KAREN_AUTO_ENABLE_DISCOVERED", True),
    "ENTRY_POINTS": env_bool("KAREN_ENTRY_POINTS", True),
}

# plain: "time LEVEL logger: message"; json: one JSON object per line with the request id, extension and
# execution id of what the line is about (extensions_core/log_context.py).
LOG_FORMAT = env_choice("KAREN_LOG_FORMAT", ("plain", "json"), "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "extensions_core.log_context.JsonLineFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
