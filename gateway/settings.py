"""Settings for the synthetic data gateway.

Everything is read from the environment. The defaults give the embedded single-machine setup:
a SQLite file, a filesystem Celery broker under ``var/`` and an offline generation backend, so the
demo runs with no network and no external service. Outside debug mode a missing secret stops
start-up with a message that names it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GATEWAY_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


DEBUG = _env_bool("DJANGO_DEBUG", True)


def _required_secret(name: str, debug_default: str) -> str:
    """A secret that must come from the environment unless we run in debug mode."""
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return debug_default
    raise ImproperlyConfigured(
        f"{name} is not set. Outside debug mode (DJANGO_DEBUG=false) the gateway refuses to start "
        f"without it; see README.md, section 'Running for real'."
    )


SECRET_KEY = _required_secret("SECRET_KEY", "insecure-debug-only-key-never-use-in-production")
# Keyed hash for PII pseudonyms (the policy's "hash" operator). Never stored beside the data.
PII_HMAC_KEY = _required_secret("PII_HMAC_KEY", "debug-only-pii-pseudonym-key")

ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "audit",
    "compliance",
    "generation",
    "gateway",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gateway.urls"
WSGI_APPLICATION = "gateway.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "libraries": {"web": "gateway.web.templatetags"},
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'gateway.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE transactions take the write lock up front, so concurrent writers queue instead of
    # failing with "database is locked" half-way through a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / "test-gateway.sqlite3")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("GATEWAY_MEDIA_ROOT", VAR_DIR / "media"))

LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
# Translations of the web pages (zh-hans); the compiled .mo is committed, so no build step is needed.
LOCALE_PATHS = [BASE_DIR / "locale"]
# The app serves its own static files (CSS, a little JS) with WhiteNoise, straight from the apps'
# static/ folders, so DEBUG-off deployments need neither collectstatic nor a separate web server.
WHITENOISE_USE_FINDERS = True
if importlib.util.find_spec("whitenoise") is not None:
    MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                      "whitenoise.middleware.WhiteNoiseMiddleware")
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start when it is missing

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "gateway.api.errors.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Synthetic data gateway API",
    "DESCRIPTION": "Request, generate, screen, gate, approve and release synthetic datasets, "
    "with every action in a signed, tamper-evident audit log.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Celery -------------------------------------------------------------------------------------
# Embedded default: kombu's filesystem transport under var/celery. It needs no service, yet it is a
# real broker that separate `celery worker` processes on the same machine can share. Set
# CELERY_BROKER_URL=redis://127.0.0.1:6379/0 to run the same tasks on Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
    # The filesystem transport expects its folders to exist.
    for _folder in (_queue_dir, VAR_DIR / "celery" / "processed", VAR_DIR / "celery" / "control"):
        _folder.mkdir(parents=True, exist_ok=True)
# Job state lives in the database, so no result backend is needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# For ``celery beat``: resume stalled requests, and sequence and checkpoint the audit log when idle.
CELERY_BEAT_SCHEDULE = {
    "pipeline-watchdog": {"task": "gateway.tasks.pipeline_watchdog", "schedule": 300},
    "audit-heartbeat": {"task": "audit.tasks.audit_heartbeat", "schedule": 600},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- Our own namespace: unknown keys are refused (as DRF's APISettings does) -----------------
GATEWAY: dict[str, Any] = {
    "AUDIT_SIGNING_KEY_PATH": os.environ.get("AUDIT_SIGNING_KEY_PATH", ""),
    "DATASET_DIR": os.environ.get("GATEWAY_DATASET_DIR", str(MEDIA_ROOT / "datasets")),
    "GENERATION_BACKEND": os.environ.get("GENERATION_BACKEND", "offline"),
    "OPENAI_BASE_URL": os.environ.get("OPENAI_BASE_URL", ""),
    "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", ""),
    "OPENAI_MODEL": os.environ.get("OPENAI_MODEL", ""),
    "OPENAI_TIMEOUT_SECONDS": float(os.environ.get("OPENAI_TIMEOUT_SECONDS", "60")),
    "OPENAI_MAX_RETRIES": int(os.environ.get("OPENAI_MAX_RETRIES", "3")),
    "GENERATION_CHUNK_SIZE": int(os.environ.get("GENERATION_CHUNK_SIZE", "25")),
    # Calls in flight per worker process (a thread pool inside each chunk); 429s lower it adaptively.
    "GENERATION_CONCURRENCY": int(os.environ.get("GENERATION_CONCURRENCY", "8")),
    # Helper processes per worker process that screen (PII masking, content safety) the records of chunks
    # running calls concurrently, so the worker's own GIL serves the calls; 0 screens in the worker process.
    "SCREENING_PROCESSES": int(os.environ.get("SCREENING_PROCESSES", "1")),
    # Prices per 1,000 tokens, {"model": {"prompt": 0.002, "completion": 0.006}}; the admin's ModelPrice
    # rows win over these. Unknown models cost 0 (self-hosted) and the estimate says so.
    "GENERATION_MODEL_PRICES": json.loads(os.environ.get("GENERATION_MODEL_PRICES", "{}")),
    # Calls a strategy is expected to make per record, for the cost estimate before a job starts.
    "GENERATION_ESTIMATE_TOKENS": {"prompt": 600, "completion": 400},
    # A working request with no progress for this long is resumed by ``pipeline_watchdog`` (see README).
    "PIPELINE_STALE_SECONDS": float(os.environ.get("PIPELINE_STALE_SECONDS", "900")),
}

if DEBUG:
    _default_key = VAR_DIR / "keys" / "audit-ed25519.pem"
    GATEWAY["AUDIT_SIGNING_KEY_PATH"] = GATEWAY["AUDIT_SIGNING_KEY_PATH"] or str(_default_key)
elif not GATEWAY["AUDIT_SIGNING_KEY_PATH"]:
    raise ImproperlyConfigured(
        "AUDIT_SIGNING_KEY_PATH is not set. Outside debug mode the audit log must be signed with a "
        "key you provisioned: create one with `python manage.py audit_keygen --output PATH`."
    )
if GATEWAY["GENERATION_BACKEND"] not in {"offline", "openai"}:
    raise ImproperlyConfigured("GENERATION_BACKEND must be 'offline' or 'openai'.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Presidio's e-mail recognizer would otherwise fetch the public-suffix list from the network.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
