from __future__ import annotations

import json

import pytest

from assistant.cli import main
from assistant.errors import ConfigError
from assistant.settings import Settings, describe, load_settings


def test_every_setting_has_a_description():
    rows = describe(Settings)
    assert len(rows) > 30
    missing = [name for name, desc in rows if not desc.strip()]
    assert missing == []


def test_sources_in_priority_order(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "radguide.toml").write_text('[llm]\nmax_tokens = 111\nn_ctx = 2048\n[retrieval]\ntop_k = 3\n')
    s = load_settings(home=home)
    assert (s.llm.max_tokens, s.llm.n_ctx, s.retrieval.top_k) == (111, 2048, 3)
    assert s.llm.temperature == 0.0  # default kept

    monkeypatch.setenv("RADGUIDE_LLM__MAX_TOKENS", "222")
    s = load_settings(home=home)
    assert (s.llm.max_tokens, s.llm.n_ctx) == (222, 2048)  # env beats toml, toml beats default

    s = load_settings(home=home, overrides={"llm": {"max_tokens": 333}})
    assert s.llm.max_tokens == 333  # CLI beats env


def test_home_from_environment_and_explicit_config(tmp_path, monkeypatch):
    monkeypatch.setenv("RADGUIDE_HOME", str(tmp_path / "envhome"))
    assert load_settings().home == tmp_path / "envhome"
    cfg = tmp_path / "other.toml"
    cfg.write_text('[store]\nbackend = "server"\nport = 9000\n')
    s = load_settings(config=cfg)
    assert (s.store.backend, s.store.port) == ("server", 9000)


def test_bad_values_are_one_clear_error(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "radguide.toml").write_text('[llm]\nbackend = "gpt-cloud"\n')
    with pytest.raises(ConfigError, match=r"invalid settings \(config .*radguide.toml\).*llm.backend"):
        load_settings(home=home)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config=tmp_path / "missing.toml")


def test_config_command_prints_effective_settings(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "--set", "retrieval.top_k=2", "config", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["retrieval"]["top_k"] == 2
    assert data["home"] == str(tmp_path)
    assert data["llm"]["backend"] == "llama_cpp"
    assert main(["--home", str(tmp_path), "config"]) == 0
    out = capsys.readouterr().out
    assert "retrieval.top_k" in out and "# Passages given to the model." in out
