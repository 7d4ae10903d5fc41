"""Settings for the ImpactLink Support Hub.

This is the only module that reads the environment. With nothing set, the hub runs on the
embedded default: SQLite, a local-memory cache and Celery tasks executed in the calling
process. Setting DATABASE_URL and REDIS_URL switches to PostgreSQL and Redis, and Celery
workers then take tasks from the Redis broker.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

DEBUG: bool = env.bool("DEBUG", default=False)
PRODUCTION: bool = env.bool("PRODUCTION", default=False)
SECRET_KEY: str = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
if PRODUCTION and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set to a private value when PRODUCTION=true.")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be false when PRODUCTION=true.")

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public URL printed in links and e-mails, without a trailing slash.
SITE_URL: str = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Host name that serves the help centre at its root, e.g. help.impactlink.org.
HELP_CENTRE_HOST: str = env.str("HELP_CENTRE_HOST", default="")
# Seconds a rendered help centre page or search result stays cached; 0 turns caching off.
HELP_CENTRE_CACHE_SECONDS: int = env.int("HELP_CENTRE_CACHE_SECONDS", default=3600)
if HELP_CENTRE_CACHE_SECONDS < 0:
    raise ImproperlyConfigured(
        f"HELP_CENTRE_CACHE_SECONDS={HELP_CENTRE_CACHE_SECONDS} is invalid; use 0 or more seconds."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "tickets",
    "integrations",
    "chat",
    "faq",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "impactsupport.middleware.RequestIdMiddleware",
    "impactsupport.middleware.HelpCentreHostMiddleware",
    "faq.middleware.PageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "impactsupport.urls"
HELP_CENTRE_URLCONF = "impactsupport.help_urls"
WSGI_APPLICATION = "impactsupport.wsgi.application"
ASGI_APPLICATION = "impactsupport.asgi.application"

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

# Database: SQLite under var/ unless DATABASE_URL names another one.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
# The embedded database, uploads and collected static files live here; a fresh clone has none.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'hub.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.postgresql":
    _db.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    _db["CONN_HEALTH_CHECKS"] = True
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a sync command writes.
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    _db["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    _db["OPTIONS"].setdefault("timeout", 20)
else:
    raise ImproperlyConfigured(
        f"DATABASE_URL names an unsupported engine {_db['ENGINE']!r}; use postgres:// or sqlite://."
    )
USES_POSTGRES = _db["ENGINE"] == "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL: str = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "impactsupport.redis_cache.ReusingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="hub"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: with a broker the workers run tasks; without one the caller runs them at once.
CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
if not CELERY_BROKER_URL:
    # Celery opens a producer even for eager tasks; kombu's in-memory transport needs no host.
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
# Celery closes the database connection around every task unless this is set; reused
# connections keep to CONN_MAX_AGE, because each task calls close_old_connections first.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "Africa/Johannesburg"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-za"
FORMAT_MODULE_PATH = ["impactsupport.formats"]
TIME_ZONE = "Africa/Johannesburg"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise warns at start-up when the folder is missing, as it is before collectstatic.
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Hashed static names never change content, so browsers may keep them for a year.
WHITENOISE_MAX_AGE = 365 * 24 * 3600
WHITENOISE_USE_FINDERS = DEBUG

# Outside production, sent mail is written to files under var/sent-mail/ to read at leisure.
EMAIL_BACKEND: str = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.filebased.EmailBackend"
    if not PRODUCTION
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "sent-mail"
EMAIL_HOST: str = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT: int = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL: str = env.str(
    "DEFAULT_FROM_EMAIL", default="ImpactLink Support <help@impactlink.org>"
)
SUPPORT_ADDRESS: str = env.str("SUPPORT_ADDRESS", default="help@impactlink.org")

# The help@ mailbox. MAILBOX_HOST empty means no mailbox is configured.
MAILBOX_HOST: str = env.str("MAILBOX_HOST", default="")
MAILBOX_PORT: int = env.int("MAILBOX_PORT", default=993)
MAILBOX_SECURITY: str = env.str("MAILBOX_SECURITY", default="ssl")
MAILBOX_USER: str = env.str("MAILBOX_USER", default="")
MAILBOX_PASSWORD: str = env.str("MAILBOX_PASSWORD", default="")
MAILBOX_OAUTH2_TOKEN: str = env.str("MAILBOX_OAUTH2_TOKEN", default="")
MAILBOX_FOLDER: str = env.str("MAILBOX_FOLDER", default="INBOX")
MAILBOX_PROCESSED_FOLDER: str = env.str("MAILBOX_PROCESSED_FOLDER", default="")
MAILBOX_FLAG_PROCESSED: bool = env.bool("MAILBOX_FLAG_PROCESSED", default=False)
MAILBOX_VERIFY_TLS: bool = env.bool("MAILBOX_VERIFY_TLS", default=True)
# PEM file of a CA to trust besides the system's, for a server with a private certificate.
MAILBOX_CA_FILE: str = env.str("MAILBOX_CA_FILE", default="")
MAILBOX_BATCH_SIZE: int = env.int("MAILBOX_BATCH_SIZE", default=200)
if MAILBOX_SECURITY not in {"ssl", "starttls", "none"}:
    raise ImproperlyConfigured(
        f"MAILBOX_SECURITY={MAILBOX_SECURITY!r} is invalid; use ssl, starttls or none."
    )
# Mail larger than this is stored as failed, with the reason, and not parsed.
MAIL_MAX_BYTES: int = env.int("MAIL_MAX_BYTES", default=25 * 1024 * 1024)
# Webhook bodies larger than this are rejected with 413 before anything is stored.
WEBHOOK_MAX_BYTES: int = env.int("WEBHOOK_MAX_BYTES", default=1024 * 1024)
INBOUND_MAX_ATTEMPTS: int = env.int("INBOUND_MAX_ATTEMPTS", default=5)
# A signed webhook timestamp further than this many seconds from our clock is rejected.
WEBHOOK_TIMESTAMP_TOLERANCE: int = env.int("WEBHOOK_TIMESTAMP_TOLERANCE", default=300)

# Calls to desk and chat APIs (integrations/http.py): read timeout and attempts per call, and
# the longest single wait (Retry-After, backoff) a call sleeps before giving up as retryable.
PROVIDER_HTTP_TIMEOUT: float = env.float("PROVIDER_HTTP_TIMEOUT", default=30.0)
PROVIDER_HTTP_MAX_ATTEMPTS: int = env.int("PROVIDER_HTTP_MAX_ATTEMPTS", default=4)
PROVIDER_HTTP_MAX_WAIT: float = env.float("PROVIDER_HTTP_MAX_WAIT", default=60.0)
# Desk attachments larger than this are listed but not downloaded.
DESK_ATTACHMENT_MAX_BYTES: int = env.int("DESK_ATTACHMENT_MAX_BYTES", default=20 * 1024 * 1024)
# How far back the first poll of a new desk connection reaches.
DESK_BACKFILL_DAYS: int = env.int("DESK_BACKFILL_DAYS", default=14)
if PROVIDER_HTTP_TIMEOUT <= 0 or PROVIDER_HTTP_MAX_ATTEMPTS < 1 or PROVIDER_HTTP_MAX_WAIT < 0:
    raise ImproperlyConfigured(
        "PROVIDER_HTTP_TIMEOUT must be positive, PROVIDER_HTTP_MAX_ATTEMPTS at least 1 and "
        "PROVIDER_HTTP_MAX_WAIT zero or more."
    )

# First-response SLA; the rules behind each value are in tickets/sla.py.
SLA_TIME_ZONE: str = env.str("SLA_TIME_ZONE", default="Africa/Johannesburg")
SLA_BUSINESS_DAYS: list[int] = env.list("SLA_BUSINESS_DAYS", cast=int, default=[0, 1, 2, 3, 4])
SLA_BUSINESS_HOURS: tuple[str, str] = tuple(  # type: ignore[assignment]
    env.list("SLA_BUSINESS_HOURS", default=["09:00", "18:00"])
)
SLA_FIRST_RESPONSE_BH: int = env.int("SLA_FIRST_RESPONSE_BH", default=120)
SLA_FIRST_RESPONSE_OH: int = env.int("SLA_FIRST_RESPONSE_OH", default=1440)
SLA_WARNING_FRACTION: float = env.float("SLA_WARNING_FRACTION", default=0.75)
SLA_ESCALATION: list[int] = env.list("SLA_ESCALATION", cast=int, default=[60, 240, 480])
SLA_PAUSE_STATUSES: list[str] = env.list(
    "SLA_PAUSE_STATUSES", default=["pending_customer", "solved", "closed"]
)
if not 0 < SLA_WARNING_FRACTION < 1:
    raise ImproperlyConfigured(
        f"SLA_WARNING_FRACTION={SLA_WARNING_FRACTION} must lie between 0 and 1."
    )
if len(SLA_ESCALATION) != 3 or sorted(SLA_ESCALATION) != SLA_ESCALATION:
    raise ImproperlyConfigured(
        f"SLA_ESCALATION={SLA_ESCALATION} must list three increasing delays in business minutes "
        "(L2, L3, L4)."
    )

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ImpactLink Support Hub API",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "impactsupport.middleware.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # One line per task run drowns everything else when tasks run in the calling process.
        "celery.app.trace": {"level": "WARNING"},
    },
}

# Live chat (chat/). Open chats a new agent takes at most; each agent's own value is editable.
CHAT_DEFAULT_CAPACITY: int = env.int("CHAT_DEFAULT_CAPACITY", default=3)
# Attempts to push an assignment or the off-hours message to the chat provider.
CHAT_PUSH_MAX_ATTEMPTS: int = env.int("CHAT_PUSH_MAX_ATTEMPTS", default=6)
# Days a closed chat's transcript is kept before its text is purged; 0 keeps it for ever.
CHAT_TRANSCRIPT_RETENTION_DAYS: int = env.int("CHAT_TRANSCRIPT_RETENTION_DAYS", default=1825)
# Message sent to a visitor outside chat hours, unless an "off-hours" canned response replaces it.
CHAT_OFF_HOURS_MESSAGE: str = env.str(
    "CHAT_OFF_HOURS_MESSAGE",
    default=(
        "Hi {first_name}, thanks for your message. Our chat team is online 09:00–18:00 SAST, "
        "Monday to Friday (not on public holidays). Your reference is {ticket_reference}: "
        "we will reply as soon as we are back."
    ),
)
if not 1 <= CHAT_DEFAULT_CAPACITY <= 50:
    raise ImproperlyConfigured(
        f"CHAT_DEFAULT_CAPACITY={CHAT_DEFAULT_CAPACITY} is invalid; use 1 to 50 open chats."
    )
if CHAT_PUSH_MAX_ATTEMPTS < 1 or CHAT_TRANSCRIPT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured(
        "CHAT_PUSH_MAX_ATTEMPTS must be at least 1 and CHAT_TRANSCRIPT_RETENTION_DAYS 0 or more."
    )
