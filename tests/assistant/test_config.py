from pathlib import Path

import pytest

from assistant.config import Config, describe, load_config, set_value, to_dict
from assistant.errors import UserError


def test_defaults_have_help_for_every_key() -> None:
    rows = describe()
    assert len(rows) > 40
    for key, _default, help_text in rows:
        assert help_text and help_text[0].isupper(), key


def test_repo_file_overrides_user_file_and_cli_overrides_both(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    (home / "assistant").mkdir(parents=True)
    (home / "assistant" / "config.toml").write_text("[train]\nepochs = 5\nbatch_size = 4\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    repo = tmp_path / "repo"
    (repo / ".assistant").mkdir(parents=True)
    (repo / ".assistant" / "config.toml").write_text("[train]\nbatch_size = 8\n")
    (repo / "assistant.toml").write_text("[server]\ntime_budget_ms = 300\n")
    cfg = load_config(repo, {"train.epochs": 2.5, "train.lr": None} | {})
    assert cfg.train.epochs == 2.5  # CLI beats the user file
    assert cfg.train.batch_size == 8  # repo file beats the user file
    assert cfg.server.time_budget_ms == 300


@pytest.mark.parametrize(("text", "needle"), [
    ("[train]\nepoch = 3\n", "unknown key 'train.epoch'"),
    ("[trian]\nepochs = 3\n", "unknown section [trian]"),
    ("[train]\nepochs = 'many'\n", "train.epochs = 'many' is not allowed; expected a number"),
    ("[train]\nmethod = 'dora'\n", "expected one of auto, full, lora, qlora"),
    ("[train]\nbatch_size = 0\n", "expected a value >= 1"),
    ("[server]\ntelemetry = 1\n", "expected true or false"),
    ("[train\n", "not valid TOML"),
])
def test_bad_files_fail_at_load_naming_key_value_and_allowed(tmp_path: Path, monkeypatch, text: str,
                                                             needle: str) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nothing"))
    (tmp_path / "assistant.toml").write_text(text)
    with pytest.raises(UserError) as e:
        load_config(tmp_path)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_list_values_accept_comma_strings_from_the_cli() -> None:
    cfg = Config()
    set_value(cfg, "export.quant", "q8_0, q4_k_m")
    assert cfg.export.quant == ["q8_0", "q4_k_m"]
    assert to_dict(cfg)["export"]["quant"] == ["q8_0", "q4_k_m"]


def test_ints_are_accepted_where_floats_are_expected() -> None:
    cfg = Config()
    set_value(cfg, "train.epochs", 2)
    assert cfg.train.epochs == 2.0 and isinstance(cfg.train.epochs, float)
