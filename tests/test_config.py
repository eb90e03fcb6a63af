from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Config, load_config
from digest.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"


def test_documented_example_loads_unchanged():
    config, source = load_config(FIXTURES / "example.toml")
    assert source == FIXTURES / "example.toml"
    assert config.email.from_ == "digest@example.com"
    assert config.topics["mamba"].exclude == ["conda", "micromamba", "Samba server", "SMB"]
    assert config.arxiv.listing_url == "https://rss.arxiv.org/rss/cs.CL+cs.LG+cs.CV+cs.AI"
    assert config.tz.key == "Asia/Seoul"
    assert [f.name for f in config.feeds] == ["Hugging Face Blog"]


def test_no_file_means_builtin_defaults():
    config, source = load_config()
    assert source is None
    assert config == Config()
    assert set(config.topics) == {"llm", "multimodal", "dpo", "mamba"}
    assert len(config.feeds) >= 5, "a good default list of research blogs"


def test_precedence_env_then_cwd(tmp_path, monkeypatch):
    (tmp_path / "digest.toml").write_text('timezone = "UTC"\n')
    other = tmp_path / "other.toml"
    other.write_text('timezone = "Europe/Berlin"\n')
    assert load_config()[0].timezone == "UTC"
    monkeypatch.setenv("DIGEST_CONFIG", str(other))
    assert load_config()[0].timezone == "Europe/Berlin"
    assert load_config(tmp_path / "digest.toml")[0].timezone == "UTC"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[selection]\nmax_itemz = 3\n", "selection.max_itemz: unknown key"),
        ('timezone = "Mars/Olympus"\n', "timezone: unknown timezone 'Mars/Olympus'"),
        ('[email]\nsmtp_port = "587"\n', "email.smtp_port: Input should be a valid integer"),
        ('[email]\nsecurity = "tls"\n', "email.security: Input should be 'starttls', 'ssl' or 'none'"),
        ("[topics.x]\nlabel = \"X\"\nkeywords = []\n", "topics.x.keywords: needs at least one keyword"),
        ('[schedule]\ncron = "every morning"\n', "schedule.cron: not a valid crontab expression"),
        ("timezone = \n", "not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_one_clear_message(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert message in str(e.value)
    result = CliRunner().invoke(cli, ["now", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ")
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_config_file_is_named(tmp_path):
    result = CliRunner().invoke(cli, ["config", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "nope.toml" in result.output


def test_config_command_masks_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-value")
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "hunter2")
    result = CliRunner().invoke(cli, ["config", "--config", str(FIXTURES / "example.toml")])
    assert result.exit_code == 0, result.output
    assert "sk-very-secret-value" not in result.output
    assert "hunter2" not in result.output
    assert 'api_key = "set (masked)"' in result.output
    assert "[topics.mamba]" in result.output
    assert 'model = "gpt-4o-mini"' in result.output
