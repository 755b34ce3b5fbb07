"""PhotoChanger settings: everything comes from the environment (see .env.example).

With no configuration at all the server runs: SQLite and media under ``var/``, the offline
``local`` provider, DEBUG off.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

if sys.platform == "win32":
    # Twisted (under daphne) refuses Windows' default Proactor event loop; daphne makes its
    # loop when Django loads the "daphne" app, after these settings and before anything else.
    asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# An empty value (as in a copied .env.example) means "the default", like an unset one.
DATA_DIR = Path(env.str("DATA_DIR", default="") or BASE_DIR / "var").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Take SECRET_KEY from the environment, else keep a generated one in the data folder."""
    if value := env.str("SECRET_KEY", default=""):
        return value
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()


def _provider_base_url(value: str, *, default: str, variable: str) -> str:
    """A provider's API address from the environment, checked at start-up."""
    url = (value or default).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ImproperlyConfigured(f"{variable} must be an http:// or https:// address")
    return url


DEBUG = env.bool("DEBUG", default=False)
# The booth reaches the server by whatever LAN address it has; the admin is behind a login.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
if env.bool("BEHIND_HTTPS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Production behind HTTPS only (deploy/production.env.example). Off by default: booths on the
# LAN post over plain HTTP. Monitoring on loopback (/healthz, /metrics) is never redirected.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# Browsers keep HSTS for this long (0: off); turn it on once HTTPS is known to work.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)

INSTALLED_APPS = [
    "daphne",
    # The project's own commands (serve, cleanup_media) and shared base.
    "photochanger",
    # Django's admin with our site (titles): see photochanger.sites.
    "photochanger.apps.PhotoChangerAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    # django-ninja's own copy of the Swagger UI for /api/docs: no CDN needed at an offline event.
    "ninja",
    "axes",
    "slots",
    "ingest",
    "media",
    "providers",
    "stats",
]

# How often each process writes its booth request log (photochanger.request_log); 0: never
# on its own (the test suite writes it when it looks).
BOOTH_REQUEST_LOG_SECONDS = env.float("BOOTH_REQUEST_LOG_SECONDS", default=1.0)

MIDDLEWARE = [
    # First, so it sees the answer every other part gave, refusals included.
    "photochanger.middleware.booth_requests_logged",
    "django.middleware.security.SecurityMiddleware",
    "photochanger.middleware.machine_errors_as_json",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # No CommonMiddleware: it refuses (400) a Host header that is not a valid host name, and a
    # booth PC sends its server's name as Windows spells it (an underscore is common). The
    # admin redirects a missing trailing slash itself (APPEND_SLASH).
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees every login attempt after authentication ran.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Staff logins: five failures from one client lock it out for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

ROOT_URLCONF = "photochanger.urls"
ASGI_APPLICATION = "photochanger.asgi.application"

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

DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{DATA_DIR / 'photochanger.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; NORMAL sync skips an fsync per commit,
    # which is safe in WAL mode (a power cut can lose the last commits, never corrupt).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Opening the file and its pragmas again for every photo costs more than the query.
    DATABASES["default"]["CONN_MAX_AGE"] = None
    # A file (not memory) so the test server process can share it; one per test run, so
    # runs side by side do not trample each other.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"photochanger-test-{os.getpid()}.sqlite3")
    }
else:
    # Under ASGI each request runs its sync code in a thread of its own, so connections are
    # borrowed from a pool instead of kept per thread (Django's advice for async servers).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A connection that cannot be had within 10 s will not come in time for a guest either.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": 20,
        "timeout": 10,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]

MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or DATA_DIR / "media").resolve()
MEDIA_URL = "/media/"
# Uploads land on the same file system as the media so a passthrough result is a rename.
FILE_UPLOAD_TEMP_DIR = str(MEDIA_ROOT / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
# Every upload (the booth's photo, staff's template images) is streamed to disk, where the image
# checks and the providers read it: never held whole in memory.
FILE_UPLOAD_HANDLERS = ["ingest.uploads.UploadToDisk"]
FILE_UPLOAD_PERMISSIONS = 0o640
# Limits of Django's form parser, sized for a booth's form (a dozen fields, one photo) and the
# admin's forms; a client past them is refused before more of its body is read.
# Non-file fields in all: booth metadata is small; anything larger is an abuse.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# Parts of any kind (a part without a name counts too).
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
DATA_UPLOAD_MAX_NUMBER_FILES = 10


def media_storage() -> dict:
    """The local media folder, or an S3-compatible bucket when S3_BUCKET is set (several
    servers behind one address share it; each keeps only uploads in progress on its disk)."""
    bucket = env.str("S3_BUCKET", default="")
    if not bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    from boto3.s3.transfer import TransferConfig

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": env.str("S3_PREFIX", default=""),
            # Empty: AWS itself, with the region and credentials boto3 finds on its own.
            "endpoint_url": env.str("S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("S3_REGION", default="") or None,
            "access_key": env.str("S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("S3_SECRET_ACCESS_KEY", default="") or None,
            "addressing_style": env.str("S3_ADDRESSING_STYLE", default="") or None,
            "signature_version": "s3v4",
            # Objects stay private: guests reach them through us or a presigned URL.
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": MEDIA_REDIRECT_SECONDS,
            # Every name we write is new (job ids, random ids): no HEAD request before a write.
            "file_overwrite": True,
            # A file read back (a result streamed to a guest) spills to disk past 1 MiB.
            "max_memory_size": 1024 * 1024,
            # Up to 64 MiB an upload is one PUT streamed from the file; boto3's multipart
            # upload would hold 8 MiB parts in memory for each photo in flight.
            "transfer_config": TransferConfig(multipart_threshold=64 * 1024**2, use_threads=False),
        },
    }


# Guests' downloads of results: "stream" passes the bytes through this server; "redirect"
# (media in a bucket only) answers with a presigned URL of the bucket, valid this many seconds.
MEDIA_DOWNLOADS = env.str("MEDIA_DOWNLOADS", default="stream")
MEDIA_REDIRECT_SECONDS = env.int("MEDIA_REDIRECT_SECONDS", default=300)
STORAGES = {
    "default": media_storage(),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if MEDIA_DOWNLOADS not in {"stream", "redirect"}:
    raise ImproperlyConfigured("MEDIA_DOWNLOADS must be stream or redirect.")
if MEDIA_DOWNLOADS == "redirect" and not env.str("S3_BUCKET", default=""):
    raise ImproperlyConfigured("MEDIA_DOWNLOADS=redirect needs media in a bucket (S3_BUCKET).")

REDIS_URL = env.str("REDIS_URL", default="")
# Shared by every worker process when Redis is configured: login and password-guessing
# counters, short page caches.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        # Lockout counters and the refused addresses' list live here too: room for them all.
        else {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    )
}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Each server process shows it is alive this often, and as often closes the jobs of processes
# silent for three of these (ingest.workers): a crashed process's jobs end within about
# 40 s of their deadline.
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=10.0)

# Wrong ingest passwords (photochanger.throttle): this many in a row within 5 minutes block the
# address for INGEST_PASSWORD_BLOCK_SECONDS (short, so a booth that is fixed works again at
# once); at most INGEST_PASSWORD_HOURLY_FAILURES an hour per address, whatever the pace.
INGEST_PASSWORD_FAILURES = env.int("INGEST_PASSWORD_FAILURES", default=10)
INGEST_PASSWORD_BLOCK_SECONDS = env.int("INGEST_PASSWORD_BLOCK_SECONDS", default=30)
INGEST_PASSWORD_HOURLY_FAILURES = env.int("INGEST_PASSWORD_HOURLY_FAILURES", default=100)
# Unknown result links one client may ask for within 5 minutes before a 5-minute refusal.
RESULT_GUESS_FAILURES = env.int("RESULT_GUESS_FAILURES", default=30)

# GET /metrics answers a scraper on this machine (loopback, not through a proxy), a staff API
# token whose owner may view statistics, or "Authorization: Bearer <METRICS_TOKEN>".
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The public event gallery: page and data requests per client address per minute (thumbnails
# get ten times as many).
GALLERY_REQUESTS_PER_MINUTE = env.int("GALLERY_REQUESTS_PER_MINUTE", default=60)

# Ingest password given by the operator; stored hashed on first start (see slots.services).
INGEST_PASSWORD = env.str("INGEST_PASSWORD", default="")
# Provider keys from the environment, used when the settings row has none.
PROVIDER_API_KEYS = {
    "gemini": env.str("GEMINI_API_KEY", default=""),
    "turbotext": env.str("TURBOTEXT_API_KEY", default=""),
    "openai": env.str("OPENAI_API_KEY", default=""),
}
# Where each provider's API calls go, with its key. Only the machine's owner may point them
# elsewhere (a proxy, a test server): slot settings and the staff API cannot, so a staff
# account can never send the keys to a host of its choosing.
PROVIDER_BASE_URLS = {
    provider: _provider_base_url(env.str(variable, default=""), default=default, variable=variable)
    for provider, variable, default in (
        ("gemini", "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"),
        ("turbotext", "TURBOTEXT_BASE_URL", "https://www.turbotext.ru"),
        ("openai", "OPENAI_BASE_URL", "https://api.openai.com"),
    )
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "provider_failures_as_warnings": {
            "()": "photochanger.log_filters.ProviderFailuresAsWarnings"
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # 5xx answers; a provider's 502 or 504 is a warning (photochanger.log_filters).
        "django.request": {"level": "ERROR", "filters": ["provider_failures_as_warnings"]},
        "daphne": {"level": "WARNING"},
    },
}
