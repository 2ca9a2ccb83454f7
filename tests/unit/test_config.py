"""define_config: defaults < environment and `.env` < code; every mistake is a ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from arkos.config import ArkosConfig, ConfigError, define_config, parse_duration

SECRET = "s" * 40


def test_defaults() -> None:
    config = define_config(env_file=None)
    assert config.env == "development" and config.is_development and not config.is_production
    assert (config.host, config.port, config.global_prefix) == ("127.0.0.1", 8000, "/api")
    assert config.database.url == "sqlite+aiosqlite:///./arkos.db"
    assert config.authentication.mode is None and not config.authentication.is_active
    assert config.authentication.jwt.secret is None
    assert config.authentication.jwt.expires_in_seconds == 30 * 86400
    assert (config.query.default_limit, config.query.max_limit, config.query.allow_limit_all) == (30, 100, False)
    assert config.max_body_bytes == 1_048_576
    assert (config.cookie_same_site, config.cookie_secure) == ("lax", False)


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("JWT_EXPIRES_IN", "12h")
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db/app")
    monkeypatch.setenv("JWT_COOKIE_SAME_SITE", "strict")
    monkeypatch.setenv("JWT_COOKIE_SECURE", "true")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/1")
    config = define_config(env_file=None)
    assert (config.port, config.host) == (9000, "0.0.0.0")
    assert config.authentication.jwt.secret is not None
    assert config.authentication.jwt.secret.get_secret_value() == SECRET
    assert config.authentication.jwt.expires_in_seconds == 12 * 3600
    assert config.database.url == "postgresql+asyncpg://app@db/app"
    assert (config.cookie_same_site, config.cookie_secure) == ("strict", True)
    assert config.redis_url == "redis://cache:6379/1"


def test_arkos_env_production_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARKOS_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", SECRET)
    config = define_config(env_file=None, authentication={"mode": "static"})
    assert config.is_production
    assert (config.cookie_same_site, config.cookie_secure) == ("none", True)


def test_explicit_config_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("JWT_EXPIRES_IN", "1h")
    monkeypatch.setenv("JWT_SECRET", SECRET)
    config = define_config(env_file=None, port=7000, authentication={"jwt": {"expires_in": "2h"}})
    assert config.port == 7000
    assert config.authentication.jwt.expires_in_seconds == 7200
    # a nested override keeps the sibling values that came from the environment
    assert config.authentication.jwt.secret is not None


def test_the_three_ways_of_giving_config_agree() -> None:
    as_kwargs = define_config(env_file=None, port=7001, query={"max_limit": 50})
    as_mapping = define_config({"port": 7001, "query": {"max_limit": 50}}, env_file=None)
    as_object = define_config(ArkosConfig(port=7001, query={"max_limit": 50}), env_file=None)  # type: ignore[arg-type]
    assert as_kwargs == as_mapping == as_object
    assert define_config({"port": 1}, env_file=None, port=2).port == 2  # keyword arguments win


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"PORT=9100\nJWT_SECRET={SECRET}\nJWT_EXPIRES_IN=90m\nUNRELATED=1\n")
    config = define_config(env_file=str(env_file))
    assert config.port == 9100
    assert config.authentication.jwt.expires_in_seconds == 5400


def test_real_environment_variables_beat_the_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9100\nHOST=10.0.0.1\n")
    monkeypatch.setenv("PORT", "9200")
    config = define_config(env_file=str(env_file))
    assert (config.port, config.host) == (9200, "10.0.0.1")


def test_a_missing_dotenv_file_is_ignored(tmp_path: Path) -> None:
    assert define_config(env_file=str(tmp_path / "absent.env")).port == 8000


@pytest.mark.parametrize(("variable", "value", "key"), [
    ("JWT_EXPIRES_IN", "forever", "authentication.jwt.expires_in"),
    ("JWT_EXPIRES_IN", "0", "authentication.jwt.expires_in"),
    ("JWT_EXPIRES_IN", "1.5h", "authentication.jwt.expires_in"),
    ("ARKOS_ENV", "staging", "env"),
    ("PORT", "http", "port"),
    ("PORT", "70000", "port"),
    ("DATABASE_URL", "mysql://db/app", "database.url"),
    ("JWT_COOKIE_SAME_SITE", "sometimes", "authentication.jwt.cookie.same_site"),
])
def test_a_bad_environment_value_fails_naming_the_key_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        define_config(env_file=None)
    message = str(caught.value)
    assert key in message, message
    assert f"env {variable}" in message, message


def test_a_bad_boolean_environment_value_fails_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_SECURE", "yes please")
    with pytest.raises(ConfigError, match="JWT_COOKIE_SECURE"):
        define_config(env_file=None)


def test_a_bad_value_in_a_dotenv_file_fails_naming_the_variable(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("JWT_EXPIRES_IN=soon\n")
    with pytest.raises(ConfigError, match=r"authentication\.jwt\.expires_in \(env JWT_EXPIRES_IN\)"):
        define_config(env_file=str(env_file))


def test_a_bad_explicit_value_fails_naming_the_key_without_an_env_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        define_config(env_file=None, authentication={"jwt": {"expires_in": "soon"}})
    assert "authentication.jwt.expires_in" in str(caught.value)
    assert "env JWT_EXPIRES_IN" not in str(caught.value)


def test_an_unknown_key_fails_naming_it() -> None:
    with pytest.raises(ConfigError, match="databse"):
        define_config(env_file=None, databse={"url": "sqlite:///x.db"})


def test_the_config_is_frozen() -> None:
    config = define_config(env_file=None)
    with pytest.raises(ValidationError, match="frozen"):
        config.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("value", "seconds"), [
    ("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("3600s", 3600), ("3600", 3600), (3600, 3600),
    ("1w", 7 * 86400), (" 5m ", 300),
])
def test_parse_duration(value: str | int, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "0", "-1", "abc", "1.5h", "10x", "h", 0, -5, True])
def test_parse_duration_refuses_anything_else(value: str | int) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_plain_number_expires_in_means_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_EXPIRES_IN", "3600")
    assert define_config(env_file=None).authentication.jwt.expires_in_seconds == 3600
    assert define_config(env_file=None, authentication={"jwt": {"expires_in": 60}}) \
        .authentication.jwt.expires_in_seconds == 60


def test_production_with_authentication_and_no_jwt_secret_fails() -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        define_config(env_file=None, env="production", authentication={"mode": "static"})


def test_production_without_authentication_needs_no_secret() -> None:
    assert define_config(env_file=None, env="production").is_production


def test_development_without_a_jwt_secret_starts() -> None:
    config = define_config(env_file=None, authentication={"mode": "static"})
    assert config.authentication.is_active and config.authentication.jwt.secret is None


def test_same_site_none_without_secure_fails() -> None:
    with pytest.raises(ConfigError, match="SameSite=None requires secure"):
        define_config(env_file=None, authentication={"jwt": {"cookie": {"same_site": "none", "secure": False}}})


def test_production_defaults_with_an_insecure_cookie_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_SECURE", "false")
    with pytest.raises(ConfigError, match="SameSite=None"):
        define_config(env_file=None, env="production")
    config = define_config(env_file=None, env="production", authentication={"jwt": {"cookie": {"same_site": "lax"}}})
    assert (config.cookie_same_site, config.cookie_secure) == ("lax", False)


def test_same_site_none_with_secure_is_accepted() -> None:
    config = define_config(env_file=None, authentication={"jwt": {"cookie": {"same_site": "none", "secure": True}}})
    assert (config.cookie_same_site, config.cookie_secure) == ("none", True)
