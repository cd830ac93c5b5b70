"""Settings: production refuses placeholders; dev secrets are made once and kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, Settings, generate_secrets, load_settings


def production(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "app_env": "production",
        "mongodb_url": "mongodb://db1,db2,db3/?replicaSet=rs0",
        "notify_backend": "wechat_sms", "wechat_appid": "wx0123456789abcdef", "wechat_secret": "s" * 32,
        "sms_backend": "tencent", "tencent_sms_secret_id": "AKID" + "x" * 32, "tencent_sms_secret_key": "k" * 32,
        "tencent_sms_sdk_app_id": "1400000000", "tencent_sms_sign_name": "某某协会",
        "tencent_sms_templates": "code=1000001,notice=1000002",
        **generate_secrets(),
    }
    values.update(overrides)
    return values


def test_production_accepts_real_secrets() -> None:
    settings = Settings(**production())  # type: ignore[arg-type]
    assert settings.app_env == "production"


@pytest.mark.parametrize("field", ["secret_key", "data_keys", "index_key"])
@pytest.mark.parametrize("value", ["", "changeme", "CHANGEME", " secret "])
def test_production_refuses_missing_or_placeholder_secrets(field: str, value: str) -> None:
    with pytest.raises(ConfigError, match=field.upper()):
        Settings(**production(**{field: value}))  # type: ignore[arg-type]


def test_production_needs_a_database_url() -> None:
    with pytest.raises(ConfigError, match="MONGODB_URL"):
        Settings(**production(mongodb_url=""))  # type: ignore[arg-type]


@pytest.mark.parametrize(("overrides", "named"), [
    ({"notify_backend": "file"}, "NOTIFY_BACKEND=file"),
    ({"wechat_secret": ""}, "WECHAT_APPID and WECHAT_SECRET"),
    ({"sms_backend": "file"}, "SMS_BACKEND=file"),
    ({"tencent_sms_secret_key": ""}, "SMS_BACKEND=tencent needs TENCENT_SMS_SECRET_KEY"),
    ({"tencent_sms_sign_name": " ", "tencent_sms_sdk_app_id": ""},
     "needs TENCENT_SMS_SDK_APP_ID, TENCENT_SMS_SIGN_NAME"),
    ({"tencent_sms_templates": "code=1000001"}, "TENCENT_SMS_TEMPLATES needs notice=<template id>"),
])
def test_production_refuses_the_file_backends_and_names_the_setting(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings(**production(**overrides))  # type: ignore[arg-type]


def test_tencent_templates_are_checked_when_read() -> None:
    with pytest.raises(ValueError, match="TENCENT_SMS_TEMPLATES: expected name=digits, got 'code:1'"):
        Settings(tencent_sms_templates="code:1")
    assert Settings(tencent_sms_templates=" code=1 ; reset=2 ,").tencent_sms_templates


def test_dev_secrets_are_generated_once_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRET_KEY", "DATA_KEYS", "INDEX_KEY"):
        monkeypatch.delenv(name, raising=False)
    first = load_settings(data_dir=tmp_path)
    second = load_settings(data_dir=tmp_path)
    assert first.secret_key.get_secret_value()
    assert first.secret_key == second.secret_key and first.data_keys == second.data_keys
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("MONGODB_DB", "other")
    settings = Settings()
    assert settings.port == 9123 and settings.mongodb_db == "other"
