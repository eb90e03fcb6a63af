from __future__ import annotations

import subprocess
import sys
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
        ('[topics.x]\nlabel = "X"\nkeywords = []\n', "topics.x.keywords: needs at least one keyword"),
        ('[topics.x]\nlabel = " "\nkeywords = ["x"]\n', "topics.x.label: must not be empty"),
        ('[topics.x]\nlabel = "X\\nY"\nkeywords = ["x"]\n', "topics.x.label: must be one line"),
        ('[topics.x]\nlabel = "X"\nkeywords = ["RAG", "*"]\n', "topics.x.keywords: '*' has no letter"),
        ('[topics.x]\nlabel = "X"\nkeywords = ["x"]\nexclude = ["(("]\n', "topics.x.exclude: '((' has no"),
        ("[arxiv]\ncategories = []\n", "arxiv.categories: needs at least one category when arxiv is enabled"),
        ('[arxiv]\ncategories = ["cs.CL", "cs LG"]\n', "arxiv.categories.1: not an arXiv category"),
        ('[email]\nto = ["me at example.com"]\n', "email.to.0: not an email address: 'me at example.com'"),
        ('[email]\nto = ["a@example.com\\nBcc: b@example.com"]\n', "email.to.0: not an email address"),
        ('[email]\nfrom = "digest"\n', "email.from: not an email address: 'digest'"),
        ('[email]\nto = ["a@example.com, b@example.com"]\n', "email.to.0: not an email address"),
        ('[llm]\nmodel = " "\n', "llm.model: must not be empty"),
        (
            '[[feeds]]\nname = "a"\nurl = "https://a.example/f"\n[[feeds]]\nname = "a"\nurl = "https://b.example/f"\n',
            "feeds: more than one feed named 'a'",
        ),
        ('[schedule]\ncron = "every morning"\n', "schedule.cron: not a valid crontab expression"),
        ("timezone = \n", "not valid TOML"),
        (
            '[[feeds]]\nname = "a"\nurl = "https://a.example/feed"\n[[feeds]]\nname = "b"\nurl = "ftp://b"\n',
            "feeds.1.url: not an http(s) URL: 'ftp://b'",
        ),
        ('[llm]\nbase_url = "localhost:11434/v1"\n', "llm.base_url: not an http(s) URL"),
        ('[arxiv]\nrss_url = "https:///rss/"\n', "arxiv.rss_url: not an http(s) URL"),
        ('[huggingface]\nurl = ""\n', "huggingface.url: not an http(s) URL"),
        ("[selection]\nmax_itemz = 3\n", "did you mean `max_items`?"),
        ("max_items = 3\n", "max_items: unknown key; did you mean `max_items` under [selection]?"),
        ('[email]\nsmtp_hots = "x"\n', "email.smtp_hots: unknown key; did you mean `smtp_host`?"),
        ('[[feeds]]\nname = "a"\nurl = "https://a.example/"\nenable = false\n', "did you mean `enabled`?"),
        ('[topics.x]\nlabel = "X"\nkeywords = ["x"]\nexclued = []\n', "did you mean `exclude`?"),
        (
            "[huggingface]\nenabled = false\nfeeds = []\n",
            "huggingface.feeds: unknown key; `feeds` is a top-level key: move it above the first [table]",
        ),
        ('[schedule]\ncron = "@reboot"\n', "'@reboot' is not a crontab nickname"),
        ('[schedule]\nllm_wait = "soon"\n', "schedule.llm_wait: 'soon' is not a duration"),
        ("[schedule]\nllm_wait = -5\n", "schedule.llm_wait: must not be negative"),
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


def test_blank_topic_terms_are_dropped_and_the_label_trimmed(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[topics.rag]\nlabel = " RAG "\nkeywords = ["RAG", " "]\nexclude = ["", "rag doll"]\n')
    config, _ = load_config(path)
    topic = config.topics["rag"]
    assert (topic.label, topic.keywords, topic.exclude) == ("RAG", ["RAG"], ["rag doll"])


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
    assert "# api_key: set (masked) ($OPENAI_API_KEY)" in result.output
    assert "# password: set (masked) ($DIGEST_SMTP_PASSWORD)" in result.output
    assert "[topics.mamba]" in result.output
    assert 'model = "gpt-4o-mini"' in result.output


def test_a_misspelled_key_without_a_close_match_gets_no_guess(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[selection]\ncolour = 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).endswith("selection.colour: unknown key")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [('"2h"', 7200), ('"90m"', 5400), ('"1h30m"', 5400), ('"45s"', 45), ("600", 600), ('"0"', 0), ("0", 0)],
)
def test_llm_wait_reads_durations(tmp_path, text, seconds):
    path = tmp_path / "d.toml"
    path.write_text(f"[schedule]\nllm_wait = {text}\n")
    assert load_config(path)[0].schedule.llm_wait == seconds
    assert Config().schedule.llm_wait == 2 * 3600


@pytest.mark.parametrize(
    ("alias", "after", "expected"),
    [
        ("@daily", "2026-02-05T10:00", "2026-02-06T00:00"),
        ("@midnight", "2026-02-05T10:00", "2026-02-06T00:00"),
        ("@weekly", "2026-02-05T10:00", "2026-02-08T00:00"),  # Sunday, as in crontab(5)
        ("@monthly", "2026-02-05T10:00", "2026-03-01T00:00"),
        ("@yearly", "2026-02-05T10:00", "2027-01-01T00:00"),
        ("@hourly", "2026-02-05T10:20", "2026-02-05T11:00"),
    ],
)
def test_cron_nicknames(tmp_path, alias, after, expected):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from digest.service.schedule import next_run_time

    path = tmp_path / "d.toml"
    path.write_text(f'[schedule]\ncron = "{alias}"\n')
    config, _ = load_config(path)
    seoul = ZoneInfo("Asia/Seoul")
    fire = next_run_time(config, datetime.fromisoformat(after).replace(tzinfo=seoul))
    assert fire == datetime.fromisoformat(expected).replace(tzinfo=seoul)


def test_config_path_that_is_a_directory_is_named_as_such(tmp_path, monkeypatch):
    # What `docker run -v ./digest.toml:/config/digest.toml` leaves when the host file is missing.
    (tmp_path / "digest.toml").mkdir()
    monkeypatch.setenv("DIGEST_CONFIG", str(tmp_path / "digest.toml"))
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].startswith(f"Error: {tmp_path / 'digest.toml'}: config file named by $DIGEST_CONFIG ")
    assert "is a directory, not a file" in lines[0] and "bind mount" in lines[0]
    assert "Traceback" not in result.output


ROUND_TRIP = r"""
timezone = "Europe/Berlin"
state_dir = "~/digest-state"

[schedule]
cron = "@daily"
llm_wait = "1h30m"

[selection]
max_items = 7

[topics."diffusion models"]
label = "Diffusion \\ \"확산\""
keywords = ["diffusion", "score-based model"]
exclude = ["diffusion MRI"]

[[feeds]]
name = "Lil'Log"
url = "https://lilianweng.github.io/index.xml"

[[feeds]]
name = "Off"
url = "http://example.org/feed?x=1&y=2"
enabled = false

[llm]
base_url = "http://localhost:11434/v1"
model = "qwen2.5:7b-instruct"
api_key_env = "MY_KEY"

[email]
enabled = true
from = "Digest <digest@example.org>"
to = ["a@example.org", "b@example.org"]
username = "me"
password_env = "MY_SMTP"
"""


@pytest.mark.parametrize("text", ["", ROUND_TRIP])
def test_config_output_loads_back_unchanged(tmp_path, monkeypatch, text):
    monkeypatch.setenv("MY_KEY", "sk-secret-1")
    monkeypatch.setenv("MY_SMTP", "pw-secret-2")
    original = tmp_path / "original.toml"
    original.write_text(text, encoding="utf-8")
    first = CliRunner().invoke(cli, ["config", "--config", str(original)])
    assert first.exit_code == 0, first.output
    assert "sk-secret-1" not in first.output and "pw-secret-2" not in first.output
    printed = tmp_path / "digest.toml"
    printed.write_text(first.stdout, encoding="utf-8")  # digest config > digest.toml
    assert load_config(printed)[0] == load_config(original)[0]
    # ...and printing the printed file gives the same file, but for its source line.
    second = CliRunner().invoke(cli, ["config", "--config", str(printed)])
    assert second.stdout.splitlines()[1:] == first.stdout.splitlines()[1:]
    if text:
        assert "# api_key: set (masked) ($MY_KEY)" in first.stdout
        assert '[topics."diffusion models"]' in first.stdout


def test_one_recipient_may_be_written_without_a_list(tmp_path):
    """`to = "me@example.com"` was refused with "Input should be a valid list"."""
    path = tmp_path / "digest.toml"
    path.write_text('[email]\nto = "김철수 <me@example.com>"\n', encoding="utf-8")
    assert load_config(path)[0].email.to == ["김철수 <me@example.com>"]
    path.write_text('[email]\nto = "a@example.com, b@example.com"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not an email address: 'a@example.com, b@example.com'"):
        load_config(path)
    path.write_text("[email]\nto = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="email.to: Input should be a valid list"):
        load_config(path)


@pytest.mark.parametrize(
    "pasted",
    [
        "sk-proj-4fG7hJ2kL9mN0pQ3rS6tU8vW1xY5zA",  # an OpenAI key
        "ghp_4fG7hJ2kL9mN0pQ3rS6tU8vW1xY5zAbCdEfG",  # a GitHub token: a valid variable name, still a secret
        "abcdefgh ijkl mnop qrst",  # an app password as Gmail shows it
    ],
)
@pytest.mark.parametrize("key", ["llm.api_key_env", "email.password_env"])
def test_a_secret_where_a_variable_name_belongs_is_refused_and_not_echoed(tmp_path, pasted, key):
    section, field = key.split(".")
    path = tmp_path / "digest.toml"
    path.write_text(f'[{section}]\n{field} = "{pasted}"\n', encoding="utf-8")
    for command in (["config"], ["config", "--json"], ["check"]):
        result = CliRunner().invoke(cli, [*command, "--config", str(path)])
        assert result.exit_code == 2, result.output
        assert pasted not in result.output
        for part in pasted.split():
            assert part not in result.output
        assert f"{key}: this looks like a secret" in result.output
        assert "Secrets come only from the environment" in result.output


def test_variable_names_are_still_names(tmp_path):
    path = tmp_path / "digest.toml"
    path.write_text('[llm]\napi_key_env = "MyProjectOpenAIKey2024"\n[email]\npassword_env = "hf_token"\n')
    config, _ = load_config(path)
    assert (config.llm.api_key_env, config.email.password_env) == ("MyProjectOpenAIKey2024", "hf_token")
    path.write_text('[llm]\napi_key_env = "MY KEY"\n')
    with pytest.raises(ConfigError, match=r"llm\.api_key_env: not an environment variable name"):
        load_config(path)


def test_config_redirected_into_digest_toml_says_built_in_defaults(tmp_path):
    # The shell creates (or empties) digest.toml before digest runs, and digest then finds it in the
    # working directory: what it prints are the defaults, and the file says so.
    target = tmp_path / "digest.toml"
    with target.open("w", encoding="utf-8") as out:
        result = subprocess.run(
            [sys.executable, "-m", "digest", "config"], stdout=out, stderr=subprocess.PIPE, text=True
        )
    assert result.returncode == 0, result.stderr
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# source: built-in defaults\n")
    assert "the shell empties before digest reads it" in result.stderr
    config, source = load_config()
    assert source == Path("digest.toml")
    # The default state_dir follows $XDG_DATA_HOME, which this test sets after Config()'s default was made.
    assert config.model_dump(exclude={"state_dir"}) == Config().model_dump(exclude={"state_dir"})
    # Printed to a terminal or a pipe, the same file is named as the source.
    again = subprocess.run([sys.executable, "-m", "digest", "config"], capture_output=True, text=True)
    assert again.stdout.startswith("# source: digest.toml\n") and not again.stderr
