"""Django settings for Siyu, configured from the environment (12-factor).

Environment variables:
- ``DATABASE_URL``: database; default is a SQLite file under ``var/``.
- ``REDIS_URL``: optional Redis for hot counters, pub/sub, the cache and (unless a broker is named) tasks.
- ``SIYU_REDIS_CLUSTER``: ``1`` when ``REDIS_URL`` names one node of a Redis Cluster (docs/scaling.md).
- ``SIYU_CELERY_BROKER_URL`` (or ``CELERY_BROKER_URL``): the Celery broker, e.g. RabbitMQ
  ``amqp://user:pass@host:5672/vhost``; default: ``REDIS_URL`` (not a cluster), else tasks run in-process.
- ``SIYU_SECRET_KEY``: secret key; generated into ``var/secret_key`` for local use when absent.
- ``ALLOWED_HOSTS``: comma-separated host names (default: localhost names).
- ``SIYU_DEBUG``: ``1`` turns debug on; off by default.
- ``SIYU_VAR_DIR``: where local state lives (default ``<repo>/var``).
- ``SIYU_SMS_PROVIDER``: ``console`` (debug only), ``tencent`` or ``aliyun``; see docs/sign-in.md.
- ``SIYU_PAYMENT_PROVIDER``: ``pay_at_pickup`` (default), ``wechatpay`` or ``sandbox``; see docs/payments.md.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SIYU_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    key = os.environ.get("SIYU_SECRET_KEY")
    if key:
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("SIYU_DEBUG")
TESTING = _env_bool("SIYU_TESTING") or "pytest" in sys.modules
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "siyu.common",
    "siyu.org",
    "siyu.members",
    "siyu.channels",
    "siyu.communities",
    "siyu.catalog",
    "siyu.orders",
    "siyu.loyalty",
    "siyu.events",
    "siyu.campaigns",
    "siyu.referrals",
    "siyu.incentives",
    "siyu.analytics",
    "siyu.api",
    "siyu.console",
    "siyu.h5",
    "siyu.tooling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "siyu.common.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "siyu.h5.middleware.GroupLinkOpenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "siyu.urls"
WSGI_APPLICATION = "siyu.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'siyu.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the demo server and background work share one file;
    # IMMEDIATE transactions serialise writers instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SIYU_TEST_DB_NAME") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
# REDIS_URL names one node of a Redis Cluster; clients discover the rest (flash admission, cache; pub/sub
# works through any node). See docs/scaling.md.
SIYU_REDIS_CLUSTER = _env_bool("SIYU_REDIS_CLUSTER")
if REDIS_URL and SIYU_REDIS_CLUSTER:
    CACHES = {
        "default": {"BACKEND": "siyu.common.redis_cluster_cache.RedisClusterCache", "LOCATION": REDIS_URL}
    }
elif REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
elif TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    # Shared by every server process (gunicorn runs several): tokens, sandbox trades, invite links.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_USER_MODEL = "org.Staff"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:dashboard"

# Cookies: HttpOnly everywhere, Secure when served over HTTPS (SIYU_SECURE_COOKIES=1 in production).
SECURE_COOKIES = _env_bool("SIYU_SECURE_COOKIES")
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 12
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if SECURE_COOKIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "siyu" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise expects it even when serving from the finders
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    ("vendor/pico", NODE_MODULES / "@picocss" / "pico" / "css"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/echarts", NODE_MODULES / "echarts" / "dist"),
    ("vendor/jsqr", NODE_MODULES / "jsqr" / "dist"),
    # WeCom JS-SDK (ww.register, getCurExternalChat, sendChatMessage) for the chat-toolbar sidebar.
    ("vendor/wecom", NODE_MODULES / "@wecom" / "jssdk" / "dist"),
]
STATICFILES_DIRS = [(prefix, path) for prefix, path in STATICFILES_DIRS if path.exists()]
# Serve straight from the finders so `make demo` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

MEDIA_ROOT = VAR_DIR / "media"
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "siyu": {"handlers": ["console"], "level": os.environ.get("SIYU_LOG_LEVEL", "INFO")},
    },
}

# --- Siyu specifics -------------------------------------------------------------------------
SIYU_BRAND_NAME = os.environ.get("SIYU_BRAND_NAME", "")
# Staff login throttling: this many failures per username (or per IP) within the window locks further tries.
SIYU_LOGIN_MAX_FAILURES = int(os.environ.get("SIYU_LOGIN_MAX_FAILURES", "5"))
SIYU_LOGIN_WINDOW_SECONDS = int(os.environ.get("SIYU_LOGIN_WINDOW_SECONDS", "900"))
# Member one-time codes.
SIYU_OTP_TTL_SECONDS = int(os.environ.get("SIYU_OTP_TTL_SECONDS", "300"))
SIYU_OTP_MAX_ATTEMPTS = int(os.environ.get("SIYU_OTP_MAX_ATTEMPTS", "5"))
SIYU_OTP_PER_MOBILE_PER_HOUR = int(os.environ.get("SIYU_OTP_PER_MOBILE_PER_HOUR", "5"))
SIYU_OTP_PER_IP_PER_HOUR = int(os.environ.get("SIYU_OTP_PER_IP_PER_HOUR", "20"))
SIYU_OTP_MIN_INTERVAL_SECONDS = int(os.environ.get("SIYU_OTP_MIN_INTERVAL_SECONDS", "60"))
# SMS delivery: "console" (debug/demo only), "tencent" or "aliyun".
SIYU_SMS_PROVIDER = os.environ.get("SIYU_SMS_PROVIDER", "console" if (DEBUG or TESTING) else "")
SIYU_SMS = {
    "tencent": {
        "secret_id": os.environ.get("SIYU_TENCENT_SECRET_ID", ""),
        "secret_key": os.environ.get("SIYU_TENCENT_SECRET_KEY", ""),
        "sdk_app_id": os.environ.get("SIYU_TENCENT_SMS_APP_ID", ""),
        "sign_name": os.environ.get("SIYU_TENCENT_SMS_SIGN", ""),
        "template_id": os.environ.get("SIYU_TENCENT_SMS_TEMPLATE", ""),
        "region": os.environ.get("SIYU_TENCENT_SMS_REGION", "ap-guangzhou"),
        "endpoint": os.environ.get("SIYU_TENCENT_SMS_ENDPOINT", "https://sms.tencentcloudapi.com/"),
    },
    "aliyun": {
        "access_key_id": os.environ.get("SIYU_ALIYUN_ACCESS_KEY_ID", ""),
        "access_key_secret": os.environ.get("SIYU_ALIYUN_ACCESS_KEY_SECRET", ""),
        "sign_name": os.environ.get("SIYU_ALIYUN_SMS_SIGN", ""),
        "template_code": os.environ.get("SIYU_ALIYUN_SMS_TEMPLATE", ""),
        "endpoint": os.environ.get("SIYU_ALIYUN_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com/"),
    },
}
# WeChat web authorization (公众号网页授权) for member sign-in inside WeChat.
SIYU_WECHAT_OAUTH = {
    "app_id": os.environ.get("SIYU_WECHAT_APP_ID", ""),
    "app_secret": os.environ.get("SIYU_WECHAT_APP_SECRET", ""),
    "authorize_url": os.environ.get(
        "SIYU_WECHAT_AUTHORIZE_URL", "https://open.weixin.qq.com/connect/oauth2/authorize"
    ),
    "api_base": os.environ.get("SIYU_WECHAT_API_BASE", "https://api.weixin.qq.com"),
}

# Celery: the broker is SIYU_CELERY_BROKER_URL / CELERY_BROKER_URL (RabbitMQ: amqp://…), else REDIS_URL
# (Celery's Redis transport needs a single Redis, not a cluster); without one, tasks run in-process and
# `siyu scheduler` runs the periodic jobs. Workers: `celery -A siyu worker`, one `celery -A siyu beat`.
CELERY_BROKER_URL = (
    os.environ.get("SIYU_CELERY_BROKER_URL")
    or os.environ.get("CELERY_BROKER_URL")
    or ("" if SIYU_REDIS_CLUSTER else REDIS_URL)
    or "memory://"
)
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_IGNORE_RESULT = True
# A job a worker dies in is delivered again (every periodic job is safe to run twice); one message at a
# time per worker process, so a slow job does not hold others back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Moderation: link hosts members may post (the brand's own shop, say); VIP threshold (fen over 90 days).
SIYU_ALLOWED_LINK_HOSTS = [
    h.strip() for h in os.environ.get("SIYU_ALLOWED_LINK_HOSTS", "").split(",") if h.strip()
]
SIYU_VIP_SPEND_THRESHOLD_FEN = int(os.environ.get("SIYU_VIP_SPEND_THRESHOLD_FEN", "100000"))

# Outbound channel calls: dispatched in a background thread after commit ("thread"), in the request
# ("inline"), or only by the periodic job ("off"; the default under tests, which never call providers).
SIYU_OUTBOX_DISPATCH = os.environ.get("SIYU_OUTBOX_DISPATCH", "off" if TESTING else "thread")

# Web group chat live stream (SSE): streams close after this long (browsers reconnect without gaps),
# send a keepalive this often, and without Redis check the database this often for other processes' posts.
SIYU_CHAT_STREAM_SECONDS = int(os.environ.get("SIYU_CHAT_STREAM_SECONDS", "300"))
SIYU_CHAT_KEEPALIVE_SECONDS = int(os.environ.get("SIYU_CHAT_KEEPALIVE_SECONDS", "15"))
SIYU_CHAT_POLL_SECONDS = float(os.environ.get("SIYU_CHAT_POLL_SECONDS", "2"))

# Payments for member orders: "pay_at_pickup" (default, no online payment), "wechatpay" (WeChat Pay API v3)
# or "sandbox" (demo only; refused unless DEBUG/TESTING). See docs/payments.md.
SIYU_PAYMENT_PROVIDER = os.environ.get("SIYU_PAYMENT_PROVIDER", "pay_at_pickup")

# Flash sales: the Redis key prefix of admission counters and streams (see docs/flash-sales.md).
SIYU_FLASH_REDIS_PREFIX = os.environ.get("SIYU_FLASH_REDIS_PREFIX", "siyu:fs")
# Flash sales refuse to start on a Redis without AOF (admitted purchases would be lost if it restarted)
# unless this is set; the test suite sets it (its local Redis runs without persistence).
SIYU_FLASH_ALLOW_VOLATILE_REDIS = _env_bool("SIYU_FLASH_ALLOW_VOLATILE_REDIS", TESTING)
# Absolute URL WeChat Pay calls back (…/hooks/pay/wechat/); default: built from the request's host.
SIYU_PAYMENT_NOTIFY_URL = os.environ.get("SIYU_PAYMENT_NOTIFY_URL", "")
# The address members reach Siyu at (e.g. https://siyu.example.com): links the robot posts into WeCom and
# Telegram groups must be absolute. Unset: the address of the staff request that posted them.
SIYU_PUBLIC_URL = os.environ.get("SIYU_PUBLIC_URL", "").rstrip("/")
SIYU_WECHATPAY = {
    "mchid": os.environ.get("SIYU_WECHATPAY_MCHID", ""),
    "appid": os.environ.get("SIYU_WECHATPAY_APPID", "") or SIYU_WECHAT_OAUTH["app_id"],
    "serial_no": os.environ.get("SIYU_WECHATPAY_SERIAL_NO", ""),
    "private_key_pem": os.environ.get("SIYU_WECHATPAY_PRIVATE_KEY", ""),
    "private_key_path": os.environ.get("SIYU_WECHATPAY_PRIVATE_KEY_PATH", ""),
    "apiv3_key": os.environ.get("SIYU_WECHATPAY_APIV3_KEY", ""),
    # WeChat Pay public key mode (PUB_KEY_ID_…); leave empty to download platform certificates instead.
    "public_key_id": os.environ.get("SIYU_WECHATPAY_PUBLIC_KEY_ID", ""),
    "public_key_pem": os.environ.get("SIYU_WECHATPAY_PUBLIC_KEY", ""),
    "public_key_path": os.environ.get("SIYU_WECHATPAY_PUBLIC_KEY_PATH", ""),
    "api_base": os.environ.get("SIYU_WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com"),
    "h5_type": os.environ.get("SIYU_WECHATPAY_H5_TYPE", "Wap"),
    "h5_app_name": os.environ.get("SIYU_WECHATPAY_H5_APP_NAME", ""),
    "h5_app_url": os.environ.get("SIYU_WECHATPAY_H5_APP_URL", ""),
}
