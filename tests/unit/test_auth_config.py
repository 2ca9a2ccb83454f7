"""The seed's configuration table, row by row: set in code, set by environment variable, and the default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arkos.config import ArkosConfig, ConfigError, define_config

SECRET = "config-test-secret-" + "s" * 40


def build(**options: Any) -> ArkosConfig:
    return define_config(env_file=None, **options)


def auth(**options: Any) -> dict[str, Any]:
    return {"authentication": {"mode": "static", **options}}


def jwt_options(**options: Any) -> dict[str, Any]:
    return auth(jwt={"secret": SECRET, **options})


def cookie_options(**options: Any) -> dict[str, Any]:
    return jwt_options(cookie=options)


# -- jwt.secret / JWT_SECRET ---------------------------------------------------------------------------


def test_secret_from_config() -> None:
    cfg = build(**jwt_options())
    assert cfg.authentication.jwt.secret is not None
    assert cfg.authentication.jwt.secret.get_secret_value() == SECRET


def test_secret_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    cfg = build(**auth())
    assert cfg.authentication.jwt.secret is not None
    assert cfg.authentication.jwt.secret.get_secret_value() == SECRET


def test_secret_from_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"JWT_SECRET={SECRET}\n")
    cfg = define_config(env_file=str(env_file), **auth())
    assert cfg.authentication.jwt.secret is not None
    assert cfg.authentication.jwt.secret.get_secret_value() == SECRET


def test_config_secret_wins_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "from-env-" + "e" * 40)
    cfg = build(**jwt_options())
    assert cfg.authentication.jwt.secret is not None
    assert cfg.authentication.jwt.secret.get_secret_value() == SECRET


def test_explicit_none_secret_falls_back_to_env_file(tmp_path: Path) -> None:
    """The seed's explicit wiring `secret: process.env.JWT_SECRET` becomes `os.environ.get(...)` in Python,
    which is None when the secret lives in `.env`: None must mean "not set", not "no secret"."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"JWT_SECRET={SECRET}\n")
    cfg = define_config(env_file=str(env_file), **auth(jwt={"secret": None}))
    assert cfg.authentication.jwt.secret is not None
    assert cfg.authentication.jwt.secret.get_secret_value() == SECRET


def test_secret_default_is_none_in_development() -> None:
    cfg = build(**auth())
    assert cfg.authentication.jwt.secret is None


def test_production_without_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        build(env="production", **auth())
    assert "JWT_SECRET" in str(caught.value)


def test_production_from_env_without_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARKOS_ENV", "production")
    with pytest.raises(ConfigError) as caught:
        build(**auth())
    assert "JWT_SECRET" in str(caught.value)


def test_production_with_env_secret_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARKOS_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", SECRET)
    assert build(**auth()).is_production


# -- jwt.expires_in / JWT_EXPIRES_IN ---------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("30d", 2_592_000), ("12h", 43_200), ("90m", 5_400),
                                                ("3600s", 3_600), (3600, 3_600), ("1h", 3_600)])
def test_expires_in_from_config(value: str | int, seconds: int) -> None:
    assert build(**jwt_options(expires_in=value)).authentication.jwt.expires_in_seconds == seconds


@pytest.mark.parametrize(("value", "seconds"), [("30d", 2_592_000), ("12h", 43_200), ("90m", 5_400),
                                                ("3600s", 3_600), ("3600", 3_600), ("1h", 3_600)])
def test_expires_in_from_env(monkeypatch: pytest.MonkeyPatch, value: str, seconds: int) -> None:
    monkeypatch.setenv("JWT_EXPIRES_IN", value)
    assert build(**jwt_options()).authentication.jwt.expires_in_seconds == seconds


def test_expires_in_default_is_30_days() -> None:
    assert build(**jwt_options()).authentication.jwt.expires_in_seconds == 30 * 86400


def test_config_expires_in_wins_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_EXPIRES_IN", "12h")
    assert build(**jwt_options(expires_in="1h")).authentication.jwt.expires_in_seconds == 3600


@pytest.mark.parametrize("bad", ["2 hours", "abc", "30x", "-5", "0", "1.5h", "0s"])
def test_bad_env_expires_in_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                                  bad: str) -> None:
    monkeypatch.setenv("JWT_EXPIRES_IN", bad)
    with pytest.raises(ConfigError) as caught:
        build(**jwt_options())
    assert "JWT_EXPIRES_IN" in str(caught.value)


@pytest.mark.parametrize("bad", ["2 hours", "abc", 0, -1, True])
def test_bad_config_expires_in_is_a_config_error_naming_the_key(bad: object) -> None:
    with pytest.raises(ConfigError) as caught:
        build(**jwt_options(expires_in=bad))
    assert "expires_in" in str(caught.value)


# -- jwt.cookie.secure / JWT_COOKIE_SECURE --------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False])
def test_cookie_secure_from_config(value: bool) -> None:
    assert build(**cookie_options(secure=value)).cookie_secure is value


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("false", False), ("TRUE", True), ("0", False)])
def test_cookie_secure_from_env(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv("JWT_COOKIE_SECURE", raw)
    assert build(**jwt_options()).cookie_secure is value


def test_cookie_secure_default_is_false_in_development_and_true_in_production() -> None:
    assert build(**jwt_options()).cookie_secure is False
    assert build(env="production", **jwt_options()).cookie_secure is True


def test_cookie_secure_config_wins_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_SECURE", "true")
    assert build(**cookie_options(secure=False)).cookie_secure is False


def test_bad_cookie_secure_env_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_SECURE", "maybe")
    with pytest.raises(ConfigError) as caught:
        build(**jwt_options())
    assert "JWT_COOKIE_SECURE" in str(caught.value)


# -- jwt.cookie.http_only / JWT_COOKIE_HTTP_ONLY ----------------------------------------------------------


@pytest.mark.parametrize("value", [True, False])
def test_cookie_http_only_from_config(value: bool) -> None:
    assert build(**cookie_options(http_only=value)).authentication.jwt.cookie.http_only is value


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("false", False)])
def test_cookie_http_only_from_env(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv("JWT_COOKIE_HTTP_ONLY", raw)
    assert build(**jwt_options()).authentication.jwt.cookie.http_only is value


def test_cookie_http_only_default_is_true_in_both_environments() -> None:
    assert build(**jwt_options()).authentication.jwt.cookie.http_only is True
    assert build(env="production", **jwt_options()).authentication.jwt.cookie.http_only is True


def test_bad_cookie_http_only_env_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_HTTP_ONLY", "yes please")
    with pytest.raises(ConfigError) as caught:
        build(**jwt_options())
    assert "JWT_COOKIE_HTTP_ONLY" in str(caught.value)


# -- jwt.cookie.same_site / JWT_COOKIE_SAME_SITE ----------------------------------------------------------


@pytest.mark.parametrize("value", ["lax", "strict"])
def test_cookie_same_site_from_config(value: str) -> None:
    assert build(**cookie_options(same_site=value)).cookie_same_site == value


def test_cookie_same_site_none_from_config_with_secure() -> None:
    assert build(**cookie_options(same_site="none", secure=True)).cookie_same_site == "none"


@pytest.mark.parametrize("value", ["lax", "strict"])
def test_cookie_same_site_from_env(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("JWT_COOKIE_SAME_SITE", value)
    assert build(**jwt_options()).cookie_same_site == value


def test_seed_env_example_same_site_none_with_secure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's .env block: JWT_COOKIE_SECURE=true, JWT_COOKIE_HTTP_ONLY=true, JWT_COOKIE_SAME_SITE=none."""
    for name, value in {"JWT_SECRET": SECRET, "JWT_EXPIRES_IN": "30d", "JWT_COOKIE_SECURE": "true",
                        "JWT_COOKIE_HTTP_ONLY": "true", "JWT_COOKIE_SAME_SITE": "none"}.items():
        monkeypatch.setenv(name, value)
    cfg = build(**auth())
    assert (cfg.cookie_same_site, cfg.cookie_secure, cfg.authentication.jwt.cookie.http_only) == ("none", True, True)
    assert cfg.authentication.jwt.expires_in_seconds == 30 * 86400


def test_cookie_same_site_default_is_lax_in_development_and_none_in_production() -> None:
    assert build(**jwt_options()).cookie_same_site == "lax"
    assert build(env="production", **jwt_options()).cookie_same_site == "none"


def test_same_site_none_without_secure_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_SAME_SITE", "none")
    with pytest.raises(ConfigError) as caught:
        build(**jwt_options())
    assert "JWT_COOKIE_SECURE" in str(caught.value)


def test_bad_same_site_env_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_SAME_SITE", "sometimes")
    with pytest.raises(ConfigError) as caught:
        build(**jwt_options())
    assert "JWT_COOKIE_SAME_SITE" in str(caught.value)


# -- login.send_access_token_through and login.allowed_usernames (config only) ---------------------------


def test_login_defaults() -> None:
    login = build(**jwt_options()).authentication.login
    assert login.send_access_token_through == "both"
    assert tuple(login.allowed_usernames) == ("username",)


@pytest.mark.parametrize("value", ["both", "cookie-only", "response-only"])
def test_send_access_token_through_from_config(value: str) -> None:
    cfg = build(**auth(jwt={"secret": SECRET}, login={"send_access_token_through": value}))
    assert cfg.authentication.login.send_access_token_through == value


def test_unknown_send_access_token_through_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        build(**auth(jwt={"secret": SECRET}, login={"send_access_token_through": "carrier-pigeon"}))
    assert "send_access_token_through" in str(caught.value)


def test_allowed_usernames_from_config() -> None:
    cfg = build(**auth(jwt={"secret": SECRET}, login={"allowed_usernames": ["email", "username"]}))
    assert tuple(cfg.authentication.login.allowed_usernames) == ("email", "username")


def test_empty_allowed_usernames_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        build(**auth(jwt={"secret": SECRET}, login={"allowed_usernames": []}))
    assert "allowed_usernames" in str(caught.value)


def test_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        build(authentication={"mode": "magic", "jwt": {"secret": SECRET}})
    assert "mode" in str(caught.value)
