"""`kraken serve` settings: defaults, YAML file, flag overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.engine.settings import SettingsError, load_settings


def test_defaults_are_safe() -> None:
    settings = load_settings(None)
    assert settings.api.listen.startswith("127.0.0.1:"), "listen on loopback unless told otherwise"
    assert settings.sync.hello == 10 and settings.sync.dead == 40
    assert settings.engine.backoff.cap == 300


def test_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "serve.yml"
    config.write_text("engine:\n  backoff: {base: 1s, cap: 2m}\n  disruption_budget: {compute: '10%', all: 5}\n"
                      "api: {listen: '127.0.0.1:9000'}\n")
    settings = load_settings(config, {"api.listen": "127.0.0.1:9999", "state_dir": tmp_path, "sync.hello": None})
    assert settings.engine.backoff.base == 1.0 and settings.engine.backoff.cap == 120.0
    assert settings.engine.disruption_budget == {"compute": "10%", "all": 5}
    assert settings.api.listen == "127.0.0.1:9999", "flags override the file"
    assert settings.state_dir == tmp_path


@pytest.mark.parametrize(("text", "key", "words"), [
    ("engine: {workerz: 3}\n", "engine.workerz", "Extra inputs are not permitted"),
    ("engine: {backoff: {cap: -1}}\n", "engine.backoff.cap", "cannot be negative"),
    ("engine: {backoff: {max_attempts: 0}}\n", "engine.backoff.max_attempts", "greater than or equal to 1"),
    ("engine: {disruption_budget: {all: lots}}\n", "engine.disruption_budget", "is not a percentage"),
    ("debounce: soon\n", "debounce", "is not a duration"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    config = tmp_path / "serve.yml"
    config.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(config)
    assert any(p.key == key and words in p.message for p in info.value.problems), info.value.problems
    assert str(config) in str(info.value)


def test_unreadable_or_non_mapping_file(tmp_path: Path) -> None:
    config = tmp_path / "serve.yml"
    config.write_text("- a list\n")
    with pytest.raises(SettingsError, match="must be a mapping"):
        load_settings(config)
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings(tmp_path / "missing.yml")
