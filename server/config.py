"""Settings: one object, built at start-up from the environment and passed down.

In ``dev`` the secrets are generated once and kept in ``DATA_DIR/secrets.json``
so that tokens and encrypted data survive a restart. In ``production`` a missing
or placeholder secret stops the start with a message naming the variable.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that must never reach production: the examples of the README and the
# usual lazy defaults.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "placeholder", "xxx", "todo", "dev", "test", "default"}
)

SECRET_FIELDS = ("secret_key", "data_keys", "index_key")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which variable to fix."""


class Settings(BaseSettings):
    """Every configuration value of the server; see the README's table."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    app_env: Literal["dev", "production"] = "dev"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str = ""  # the URL printed and used in QR codes; derived from host/port when empty
    data_dir: Path = Path("var")
    web_dist: Path = Path(__file__).resolve().parent.parent / "web" / "dist"  # the built web view, served at /

    mongodb_url: str = ""  # empty: start the embedded SecantusDB under DATA_DIR
    mongodb_db: str = "training"

    # Secrets. SECRET_KEY signs tickets and keys fast hashes; DATA_KEYS is the AES-256
    # key ring for personal data ("kid:base64key,..." — the first is current);
    # INDEX_KEY keys the blind index used for exact lookups of encrypted values.
    secret_key: SecretStr = SecretStr("")
    data_keys: SecretStr = SecretStr("")
    index_key: SecretStr = SecretStr("")

    sms_backend: Literal["file", "tencent"] = "file"  # tencent: Tencent Cloud SMS (production), see TENCENT_SMS_*
    sms_outbox: Path = Path()  # default: DATA_DIR/sms-outbox.jsonl
    notify_backend: Literal["file", "wechat_sms"] = "file"  # wechat_sms: subscribe message if accepted, else SMS
    notify_outbox: Path = Path()  # default: DATA_DIR/notify-outbox.jsonl
    # WeChat subscribe message templates (订阅消息模板 ids from the mini-program's admin console), one per
    # notification kind; a kind without a template always goes by SMS. See README, "Notifications".
    wechat_template_payment_approved: str = ""
    wechat_template_payment_rejected: str = ""
    wechat_template_invoice_ready: str = ""
    wechat_template_payment_deadline_near: str = ""
    wechat_subscribe_page: str = "pages/payments/index"  # the mini-program page a subscribe message opens
    wechat_miniprogram_state: Literal["formal", "trial", "developer"] = "formal"  # which build that page opens in
    payment_reminder_hours: int = Field(default=24, ge=1, le=24 * 14)  # 缴费截止提醒: this long before pay_by
    wechat_template_results_published: str = ""
    wechat_template_certificate_ready: str = ""
    # The association's name, printed on passes (听课证), certificates and the verification page.
    association_name: str = "上海市勘察设计行业协会"
    # Certificates (issue 13): the number's type prefix (SKX-2026-000123), public verifications per
    # client address per minute.
    certificate_prefix: str = Field(default="SKX", pattern=r"^[A-Z]{2,8}$")
    verify_rate_per_minute: int = Field(default=30, ge=1, le=10_000_000)

    wechat_appid: str = ""
    wechat_secret: SecretStr = SecretStr("")
    wechat_api_base: str = "https://api.weixin.qq.com"

    login_slowdown_seconds: float = Field(default=1.0, ge=0, le=10)  # per repeated attempt, before the lock
    payment_term_days: int = Field(default=7, ge=1, le=60)  # unpaid enrollments expire after this
    # Personal data of trainee accounts without a login or change for this long is purged
    # (``python -m server purge-inactive``, the admin endpoint); records that must be kept stay anonymized.
    pii_retention_days: int = Field(default=3 * 365, ge=30)

    max_json_bytes: int = 1024 * 1024  # default body limit of a JSON endpoint
    # The most of a refused body the server reads (and drops) so that a client which sends it anyway
    # still gets the 413 envelope; past it the connection is cut. Endpoint limits apply first.
    max_request_bytes: int = 16 * 1024 * 1024
    # Blocking work runs in three pools kept apart (services/cpu.py), each with a bounded queue:
    # past workers + queue tasks in flight the next request gets 503 server_busy with Retry-After.
    executor_workers: int = Field(default=2, ge=1, le=64)  # CPU documents: images, Excel, PDF
    executor_queue: int = Field(default=8, ge=0, le=10_000)
    executor_niceness: int = Field(default=10, ge=0, le=19)  # Linux: document threads yield the cores
    hash_workers: int = Field(default=2, ge=1, le=64)  # argon2 (64 MiB each)
    hash_queue: int = Field(default=32, ge=0, le=10_000)
    network_workers: int = Field(default=8, ge=1, le=256)  # blocking HTTP (WeChat)
    network_queue: int = Field(default=32, ge=0, le=10_000)
    # ---- shutdown, outages, timeouts, proxies (issue 10) ----
    # Tornado waits for a request's headers with one deadline, counted from the connection's start
    # or the end of the previous answer: it is both the idle keep-alive timeout and the header timeout.
    idle_timeout_seconds: float = Field(default=60, gt=0, le=3600)
    # A body that stalls (no byte for this long) is answered 408 and its connection closed.
    body_timeout_seconds: float = Field(default=30, gt=0, le=3600)
    # The whole body, however slowly it trickles in (a 200 MB ZIP needs ~55 KB/s to make an hour).
    body_max_seconds: float = Field(default=3600, gt=0)
    # SIGTERM: how long open requests may take to finish before their connections are closed.
    shutdown_grace_seconds: float = Field(default=10, ge=0, le=600)
    # How long a database operation waits for a reachable server before the API answers 503.
    db_selection_timeout_ms: int = Field(default=1500, ge=100, le=60000)
    # Peers whose X-Forwarded-For / X-Real-IP are believed: addresses or CIDRs, comma-separated.
    trusted_proxies: str = ""
    import_max_bytes: int = 5 * 1024 * 1024  # a staff import sheet (.xlsx)
    import_max_rows: int = Field(default=5000, ge=1)  # data rows of one import
    photo_zip_max_bytes: int = 200 * 1024 * 1024  # bulk photos: one ZIP, streamed to a temporary file
    # argon2id cost: t=4, 64 MiB takes ~240 ms on the 2-core reference machine (see
    # services/passwords.py); lower only in tests.
    argon2_time_cost: int = Field(default=4, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    log_level: str = "INFO"
    # ---- production deploy (issue 17) ----
    # /metrics answers only with "Authorization: Bearer <METRICS_TOKEN>"; empty: the endpoint is off (403).
    metrics_token: SecretStr = SecretStr("")
    # ---- performance (issue 18) ----
    # Token → principal cached per process, evicted in every process through a change stream on
    # `tokens` (services/accounts/principal_cache.py); false: every request reads `tokens`.
    token_cache: bool = True
    # json: one JSON object per log line (time, level, logger, message, request id) for a log collector;
    # text: lines for a person. Default: json when APP_ENV=production, else text.
    log_format: Literal["", "json", "text"] = ""
    # Tencent Cloud SMS (SMS_BACKEND=tencent, integrations/tencent_sms.py): an API key of a sub-account
    # allowed sms:SendSms, the SMS application (SdkAppId), the approved signature (签名) and the approved
    # templates by name ("code=1234567,notice=1234568"; a purpose or kind may have its own).
    tencent_sms_secret_id: str = ""
    tencent_sms_secret_key: SecretStr = SecretStr("")
    tencent_sms_sdk_app_id: str = ""
    tencent_sms_sign_name: str = ""
    tencent_sms_templates: str = ""
    tencent_sms_region: str = "ap-guangzhou"
    tencent_sms_endpoint: str = "https://sms.tencentcloudapi.com"  # a local stub in the tests
    tencent_sms_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator("tencent_sms_templates")
    @classmethod
    def _templates_parse(cls, value: str) -> str:
        from server.integrations.tencent_sms import parse_templates

        parse_templates(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        for item in _split(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"TRUSTED_PROXIES: not an address or CIDR: {item!r}") from None
        return value
    # Background jobs (services/jobs): a runner in every app process unless JOBS_IN_PROCESS=false
    # (then run `python -m server worker`); see the README, "Background jobs".
    jobs_in_process: bool = True
    jobs_concurrency: int = Field(default=2, ge=1, le=64)  # jobs run at once by one process
    jobs_lease_seconds: float = Field(default=60, ge=1)  # a silent runner's job is reclaimed after this
    jobs_poll_seconds: float = Field(default=1.0, gt=0)
    jobs_max_attempts: int = Field(default=8, ge=1)  # then the job is dead until an admin retries it
    jobs_backoff_seconds: float = Field(default=10, ge=0)  # wait after the first failure; doubles each time
    # The OCR pre-check of payment proofs (issue 11): one child process per server process
    ocr_timeout_seconds: float = Field(default=60, gt=0, le=3600)  # per job (all its proofs), models loading included
    ocr_memory_mb: int = Field(default=2048, ge=64, le=65536)  # the OCR process's address space (RLIMIT_AS)
    # Attendance passes (services/passes). The Ed25519 signing key: PASS_SIGNING_KEY (base64 of the
    # 32-byte seed) or the file PASS_SIGNING_KEY_FILE (default DATA_DIR/pass-signing-key; generated
    # there in dev; `python -m server rotate-pass-key` writes a new one). Never in the database.
    pass_signing_key: SecretStr = SecretStr("")
    pass_signing_key_file: Path = Path()
    pass_clock_drift_seconds: int = Field(default=600, ge=0, le=86400)  # scanner clocks may be this far off
    pass_bundle_hours: float = Field(default=24, gt=0, le=24 * 7)  # an offline bundle is valid this long
    pass_late_after: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # Beijing time
    pass_font: Path = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # embedded CJK TrueType font

    @model_validator(mode="after")
    def _outboxes_under_data_dir(self) -> Settings:
        if self.sms_outbox == Path():
            self.sms_outbox = self.data_dir / "sms-outbox.jsonl"
        if self.notify_outbox == Path():
            self.notify_outbox = self.data_dir / "notify-outbox.jsonl"
        return self

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.app_env != "production":
            return self
        bad = [
            name.upper()
            for name in SECRET_FIELDS
            if getattr(self, name).get_secret_value().strip().lower() in PLACEHOLDER_SECRETS
        ]
        if bad:
            raise ConfigError(
                "APP_ENV=production needs real secrets; missing or placeholder: " + ", ".join(bad)
            )
        if not self.mongodb_url:
            raise ConfigError("APP_ENV=production needs MONGODB_URL (the replica set)")
        missing = production_backend_gaps(self)
        if missing:
            raise ConfigError("APP_ENV=production refuses the development backends: " + "; ".join(missing))
        return self

    @property
    def base_url(self) -> str:
        """The URL people open; PUBLIC_URL when set."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


def production_backend_gaps(settings: Settings) -> list[str]:
    """What keeps notifications on a development backend (a file nobody reads), naming the settings.

    NOTIFY_BACKEND=file writes every notification to a file: production needs wechat_sms with
    WECHAT_APPID and WECHAT_SECRET. SMS_BACKEND=file likewise: production needs tencent with its
    credentials, signature and the ``code`` and ``notice`` templates.
    """
    gaps = []
    if settings.sms_backend == "file":
        gaps.append("SMS_BACKEND=file (set SMS_BACKEND=tencent)")
    else:
        unset = [name.upper() for name in TENCENT_SMS_REQUIRED if not _value(getattr(settings, name))]
        if unset:
            gaps.append("SMS_BACKEND=tencent needs " + ", ".join(unset))
        from server.integrations.tencent_sms import parse_templates

        templates = parse_templates(settings.tencent_sms_templates)
        lacking = [name for name in ("code", "notice") if name not in templates]
        if lacking and not unset:
            gaps.append("TENCENT_SMS_TEMPLATES needs " + " and ".join(f"{name}=<template id>" for name in lacking))
    if settings.notify_backend == "file":
        gaps.append("NOTIFY_BACKEND=file (set NOTIFY_BACKEND=wechat_sms)")
    elif not settings.wechat_appid or not settings.wechat_secret.get_secret_value():
        gaps.append("NOTIFY_BACKEND=wechat_sms needs WECHAT_APPID and WECHAT_SECRET")
    return gaps


TENCENT_SMS_REQUIRED = ("tencent_sms_secret_id", "tencent_sms_secret_key", "tencent_sms_sdk_app_id",
                        "tencent_sms_sign_name", "tencent_sms_templates")


def _value(value: object) -> str:
    return (value.get_secret_value() if isinstance(value, SecretStr) else str(value)).strip()


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.replace(";", ",").split(",") if item.strip()]


@functools.lru_cache(maxsize=8)
def proxy_networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """TRUSTED_PROXIES as networks (a bare address is a /32 or /128); parsed once per value."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in _split(value))


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, filling dev secrets from DATA_DIR."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if settings.app_env == "dev":
        settings = _with_dev_secrets(settings)
    return settings


def _with_dev_secrets(settings: Settings) -> Settings:
    """Generate missing dev secrets once and keep them under DATA_DIR."""
    missing = [name for name in SECRET_FIELDS if not getattr(settings, name).get_secret_value()]
    if not missing:
        return settings
    path = settings.data_dir / "secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    if any(name not in stored for name in missing):
        stored = {**generate_secrets(), **stored}
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _write_private(path, json.dumps(stored, indent=2))
    return settings.model_copy(update={name: SecretStr(stored[name]) for name in missing})


def generate_secrets() -> dict[str, str]:
    """Fresh values for every secret setting (also used by the tests)."""
    return {
        "secret_key": secrets.token_urlsafe(48),
        "data_keys": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
