from __future__ import annotations

from pathlib import Path

import pytest

from config import load_settings
from config.limits import MAX_FRAME_BYTES


def test_defaults_env_and_toml(tmp_path: Path) -> None:
    s = load_settings(env={})
    assert s.database_url is None and s.data_dir == Path("./var")
    assert s.max_frame_bytes == MAX_FRAME_BYTES
    toml = tmp_path / "glint.toml"
    toml.write_text('[glint]\nhttp_port = 9000\nallowed_origins = ["https://a.example"]\n'
                    'heartbeat_seconds = 10\n')
    s = load_settings(env={"GLINT_CONFIG": str(toml), "GLINT_HTTP_PORT": "9100",
                           "DATABASE_URL": "postgresql://x/y", "GLINT_OPS_BURST": "7"})
    assert s.http_port == 9100  # environment beats the file
    assert s.allowed_origins == ("https://a.example",) and s.heartbeat_seconds == 10.0
    assert s.database_url == "postgresql://x/y" and s.ops_burst == 7
    s = load_settings(env={"GLINT_ALLOWED_ORIGINS": "http://a, http://b"})
    assert s.allowed_origins == ("http://a", "http://b")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        load_settings(env={}, no_such_setting=1)
    with pytest.raises(ValueError):
        load_settings(env={"GLINT_SHARD": "9000"})
    with pytest.raises(ValueError):
        load_settings(env={"GLINT_HTTP_PORT": "eighty"})


def test_explore_precompute_modes_and_the_old_boolean_spellings() -> None:
    assert load_settings(env={}).explore_precompute == "explorers"
    for raw, mode in (("all", "all"), ("Explorers", "explorers"), ("off", "off"),
                      ("1", "all"), ("true", "all"), ("0", "off"), ("false", "off")):
        assert load_settings(env={"GLINT_EXPLORE_PRECOMPUTE": raw}).explore_precompute == mode
    assert load_settings(env={}, explore_precompute=True).explore_precompute == "all"
    with pytest.raises(ValueError):
        load_settings(env={"GLINT_EXPLORE_PRECOMPUTE": "sometimes"})
