from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ml_prediction_service.config import (
    Settings,
    SettingsError,
    UiSettings,
    load_settings,
    load_ui_settings,
)

GUIDE_VARS = [
    "DB_DSN",
    "API_PORT",
    "MODEL_STORAGE_PATH",
    "TRAINING_SERVICE_API_URL",
    "POLLING_INTERVAL_SECONDS",
    "BATCH_SIZE",
    "BATCH_TIMEOUT_SECONDS",
    "FEATURE_HISTORY_SIZE",
    "MAX_CONCURRENT_PREDICTIONS",
    "MODEL_CACHE_SIZE",
    "N8N_WEBHOOK_URL",
    "N8N_WEBHOOK_TIMEOUT",
    "DEFAULT_ALERT_THRESHOLD",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "LOG_JSON_INDENT",
    "DATA_DIR",
    "API_KEY",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in GUIDE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_follow_the_guide() -> None:
    s = load_settings()
    assert s.db_dsn is None
    assert s.api_port == 8000
    assert s.polling_interval_seconds == 30
    assert s.batch_size == 50
    assert s.batch_timeout_seconds == 5
    assert s.feature_history_size == 20
    assert s.max_concurrent_predictions == 10
    assert s.model_cache_size == 10
    assert s.n8n_webhook_url is None
    assert s.n8n_webhook_timeout == 5
    assert s.default_alert_threshold == 0.7
    assert (s.log_level, s.log_format, s.log_json_indent) == ("INFO", "text", 0)
    assert s.data_dir == Path.cwd().resolve() / "data"
    assert s.api_key == ""
    assert s.models_dir == Path.cwd().resolve() / "data" / "models"


def test_relative_paths_are_resolved_once_against_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATA_DIR", "./state")
    monkeypatch.setenv("MODEL_STORAGE_PATH", "files/models")
    s = load_settings()
    monkeypatch.chdir("/")  # later changes of directory do not move the data
    assert s.data_dir == tmp_path.resolve() / "state"
    assert s.models_dir == tmp_path.resolve() / "files" / "models"


def test_an_empty_data_dir_is_the_default_not_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATA_DIR", "")
    assert load_settings().data_dir == tmp_path.resolve() / "data"


def test_an_unreadable_dotenv_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"API_PORT=\xff\xfe\n")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert ".env" in str(info.value) and "\n" not in str(info.value)


def test_every_guide_variable_is_a_field() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert set(GUIDE_VARS) <= fields


def test_env_values_are_read_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_SIZE", "7")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("DB_DSN", "")
    monkeypatch.setenv("MODEL_STORAGE_PATH", "/srv/models")
    s = load_settings()
    assert s.batch_size == 7
    assert s.log_level == "DEBUG"
    assert s.log_format == "json"
    assert s.db_dsn is None
    assert s.models_dir == Path("/srv/models")


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BATCH_SIZE=11\nAPI_KEY=secret\n")
    s = load_settings()
    assert (s.batch_size, s.api_key) == (11, "secret")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BATCH_SIZE", "abc", "valid integer"),
        ("LOG_LEVEL", "LOUD", "'DEBUG'"),
        ("LOG_FORMAT", "xml", "'text'"),
        ("API_PORT", "70000", "less than or equal"),
        ("DEFAULT_ALERT_THRESHOLD", "1.5", "less than or equal"),
        ("BATCH_TIMEOUT_SECONDS", "0", "greater than"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert name in message
    assert repr(value) in message
    assert fragment in message
    assert "\n" not in message


def test_cli_stops_with_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "BATCH_SIZE": "abc", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "ml_prediction_service", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "BATCH_SIZE='abc'" in lines[0]
    assert "Traceback" not in proc.stderr


def test_env_example_documents_every_field() -> None:
    example = Path(__file__).resolve().parents[3] / ".env.example"
    text = example.read_text()
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in text, f"{name.upper()} missing from .env.example"


def test_env_example_copied_to_dotenv_gives_the_defaults(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    assert load_settings() == Settings(_env_file=None)  # type: ignore[call-arg]


def test_wakeup_interval_is_the_shorter_of_polling_and_batch_timeout() -> None:
    assert load_settings().wakeup_interval_seconds == 5
    assert load_settings(batch_timeout_seconds=60).wakeup_interval_seconds == 30


def test_the_ui_reads_only_its_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_SIZE", "abc")  # a service variable: not the UI's business
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("API_KEY", "k")
    ui = load_ui_settings()
    assert (ui.api_url, ui.api_key, ui.ui_port) == ("http://127.0.0.1:9000", "k", 8501)
    assert set(UiSettings.model_fields) == {"ui_host", "ui_port", "api_url", "api_key"}
    assert set(UiSettings.model_fields) <= set(Settings.model_fields)
    monkeypatch.setenv("UI_PORT", "0")
    with pytest.raises(SettingsError, match="UI_PORT"):
        load_ui_settings()


ROOT = Path(__file__).resolve().parents[3]
FIELDS = {name.upper() for name in Settings.model_fields}


def _env_example() -> dict[str, str]:
    """``.env.example``'s assignments (value without a trailing ``# comment``), in order."""
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            name, value = match.groups()
            assert name not in values, f"{name} appears twice in .env.example"
            values[name] = re.sub(r"\s+#.*$", "", value).strip()
    return values


def _readme_configuration() -> dict[str, str]:
    """README's configuration table: variable -> the default it documents."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, str] = {}
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        names_cell, defaults_cell = (cell.strip() for cell in row.split("|")[1:3])
        names = [n.strip().strip("`") for n in names_cell.split(" / ")]
        defaults = [d.strip().strip("`") for d in defaults_cell.split(" / ")]
        assert len(names) == len(defaults), row
        for name, default in zip(names, defaults, strict=True):
            assert name not in documented, f"{name} appears twice in README"
            documented[name] = "" if default == "*(empty)*" else default
    return documented


def test_env_example_lists_exactly_the_settings() -> None:
    assert set(_env_example()) == FIELDS


def test_readme_configuration_table_matches_the_settings() -> None:
    documented = _readme_configuration()
    assert set(documented) == FIELDS
    example = _env_example()
    # the same defaults as .env.example (which gives Settings' defaults, tested above);
    # README names the effective default where .env.example leaves the value empty
    effective = {"MODEL_STORAGE_PATH": "DATA_DIR/models"}
    for name, default in documented.items():
        assert default == effective.get(name, example[name]), name
