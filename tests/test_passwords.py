"""Committee password hashing: its cost is one setting, with a floor outside tests; a hash
made at another cost still checks, and is redone at the configured cost."""

import pytest

from whistle import create_app
from whistle.security import passwords
from whistle.config import ConfigError, from_env

from tests.conftest import make_config


def test_the_cost_comes_from_the_environment_and_has_a_floor(tmp_path):
    env = {
        "WHISTLE_INSTANCE_DIR": str(tmp_path),
        "WHISTLE_PASSWORD_TIME_COST": "4",
        "WHISTLE_PASSWORD_MEMORY_KIB": str(32 * 1024),
    }
    cfg = from_env(env)
    assert (cfg.password_time_cost, cfg.password_memory_kib) == (4, 32 * 1024)
    assert (
        from_env({"WHISTLE_INSTANCE_DIR": str(tmp_path)}).password_time_cost,
        from_env({"WHISTLE_INSTANCE_DIR": str(tmp_path)}).password_memory_kib,
    ) == (3, 64 * 1024)
    for name, value in (("WHISTLE_PASSWORD_TIME_COST", "1"), ("WHISTLE_PASSWORD_MEMORY_KIB", "19455")):
        with pytest.raises(ConfigError, match="PASSWORD"):
            from_env(dict(env, **{name: value}))


def test_tests_may_go_below_the_floor_and_the_app_hashes_at_the_setting(tmp_path):
    cheap = make_config(tmp_path, password_time_cost=1, password_memory_kib=64)
    assert cheap.testing
    create_app(cheap)
    assert passwords.current().hash("a long login password").startswith("$argon2id$v=19$m=64,t=1,")
    with pytest.raises(ConfigError):
        cheap.with_(testing=False)
    create_app(cheap.with_(password_time_cost=2))
    assert passwords.current().hash("a long login password").startswith("$argon2id$v=19$m=64,t=2,")


def test_a_hash_of_another_cost_checks_and_asks_to_be_redone():
    old = passwords.Passwords(2, 128).hash("a long login password")
    now = passwords.Passwords(1, 64)
    assert now.check(old, "a long login password")
    assert not now.check(old, "a wrong login password")
    assert now.needs_rehash(old)
    assert not now.needs_rehash(now.hash("a long login password"))


def test_no_stored_hash_is_never_a_match_but_costs_a_verification():
    hashing = passwords.Passwords(1, 64)
    assert not hashing.check(None, "")
    assert not hashing.check("not a hash", "a long login password")
