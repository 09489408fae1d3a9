"""The one settings object. The only module that reads the environment.

Names are binding (contract §6). Every field is typed and documented; an invalid value
stops start-up with :class:`SettingsError`, whose message names the variable.
:class:`Settings` is everything; the web UI's process reads only its part of it,
:class:`UiSettings` (``UI_HOST``, ``UI_PORT``, ``API_URL``, ``API_KEY``), so that it does
not validate the service's variables.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from ml_prediction_service.models.decision import DEFAULT_ALERT_THRESHOLD

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["text", "json"]

DEFAULT_DATA_DIR = Path("./data")


class SettingsError(ValueError):
    """A configuration value is missing or invalid. The message is one line for people."""


class UiSettings(BaseSettings):
    """What the web UI reads: where it listens, where the REST API is and its key. Read from
    the environment and an optional ``.env`` file, like :class:`Settings`, which includes it."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
    )

    api_key: str = Field(
        default="",
        description="If set, POST/PATCH/PUT/DELETE require header X-API-Key with this value "
        "(the UI sends it).",
    )
    ui_host: str = Field(
        default="127.0.0.1",
        description="Interface the web UI binds to (``ui``, ``serve --with-ui``; Docker: 0.0.0.0).",
    )
    ui_port: int = Field(default=8501, ge=1, le=65535, description="Streamlit UI port.")
    api_url: str = Field(
        default="http://localhost:8000", description="Where the UI finds the REST API."
    )


class Settings(UiSettings):
    """Service configuration, read from the environment and an optional ``.env`` file."""

    # --- database -------------------------------------------------------------------
    db_dsn: str | None = Field(
        default=None,
        description="PostgreSQL DSN. Unset/empty: start (or reuse) an embedded PostgreSQL "
        "under DATA_DIR.",
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        validate_default=True,
        description="Local state: embedded database, downloaded models (unless "
        "MODEL_STORAGE_PATH is set). A relative path is resolved against the working "
        "directory at start-up.",
    )
    db_pool_min_size: int = Field(default=1, ge=1, description="Smallest pool size.")
    db_pool_max_size: int = Field(default=10, ge=1, description="Largest pool size.")
    db_connect_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long start-up keeps retrying (with backoff) to reach the database.",
    )

    # --- HTTP API -------------------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="Interface the API binds to.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="API port.")
    # API_KEY: see UiSettings

    # --- models ---------------------------------------------------------------------
    model_storage_path: Path | None = Field(
        default=None, description="Where model files are stored (default: DATA_DIR/models)."
    )
    training_service_api_url: str = Field(
        default="http://localhost:8001/api",
        description="Base URL of the training service (models list, details, download).",
    )
    model_cache_size: int = Field(
        default=10,
        ge=1,
        description="Model files kept in the load cache (LRU; spares re-loading a file, e.g. "
        "after a deactivate/activate). Active models hold their loaded file regardless.",
    )
    model_use_onnx: bool = Field(
        default=True,
        description="Serve Random Forests with ONNX Runtime when its probabilities match "
        "sklearn's within 1e-5 on a probe batch.",
    )
    model_refresh_interval_seconds: float = Field(
        default=10, gt=0, description="Periodic re-read of the active models (besides NOTIFY)."
    )
    model_download_timeout_seconds: float = Field(
        default=60, gt=0, description="Timeout for one model download."
    )
    model_max_file_mb: int = Field(default=512, ge=1, description="Largest accepted model file.")

    # --- event handling -------------------------------------------------------------
    polling_interval_seconds: float = Field(
        default=30,
        gt=0,
        description="Longest interval of the polling fallback (reads new coin_metrics rows "
        "while the trigger is not active). It and the workers wake every "
        "min(POLLING_INTERVAL_SECONDS, BATCH_TIMEOUT_SECONDS): wakeup_interval_seconds.",
    )
    batch_size: int = Field(
        default=50, ge=1, description="A worker claims at most this many events per batch."
    )
    batch_timeout_seconds: float = Field(
        default=5,
        gt=0,
        description="Workers look for events at least this often without a notification (a "
        "lost NOTIFY delays an event at most this long); no batch waits to fill up.",
    )
    feature_history_size: int = Field(
        default=20,
        ge=2,
        description="Depth of the pipeline's per-coin history store: it keeps at least this "
        "many recent rows per coin (more if an active model's windows need more, max(window) "
        "+ 1). The benchmark's naive path reads this many rows per event.",
    )
    min_history_rows: int = Field(
        default=5, ge=1, description="Coins with fewer history rows are skipped, not predicted."
    )
    max_event_age_seconds: float = Field(
        default=300,
        gt=0,
        description="Older events are still predicted but flagged stale (no alerts sent); "
        "also how far back the polling fallback starts when it has no watermark yet.",
    )
    pipeline_enabled: bool = Field(
        default=True,
        description="Run the real-time pipeline in this process (false: API-only replica).",
    )
    pipeline_workers: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Prediction workers per process, each owning a hash partition of the "
        "coins (overlaps database waits with CPU work).",
    )
    coin_cache_size: int = Field(
        default=50_000,
        ge=1,
        description="Coins whose recent history is kept in memory (whole process; measured "
        "5.0 KB per coin at the default depth of 20 rows, so ~240 MB at 50,000; "
        "docs/pipeline.md).",
    )
    max_concurrent_predictions: int = Field(
        default=10,
        ge=1,
        description="Most POST /api/predict requests computed at once per process (more "
        "wait their turn). The real-time pipeline is not bounded by it (PIPELINE_WORKERS).",
    )

    # --- alerts / n8n ---------------------------------------------------------------
    n8n_webhook_url: str | None = Field(
        default=None, description="Default n8n webhook URL (unset: no webhooks)."
    )
    n8n_webhook_timeout: float = Field(default=5, gt=0, description="Webhook timeout (s).")
    n8n_webhook_secret: str = Field(
        default="", description="If set, webhooks carry an HMAC-SHA256 signature header."
    )
    webhook_concurrency: int = Field(
        default=32,
        ge=1,
        description="Webhook POSTs in flight at once (kept-alive connections, all URLs).",
    )
    webhook_max_attempts: int = Field(
        default=0,
        ge=0,
        description="Attempts before a delivery is marked failed (0: no limit, only the age).",
    )
    webhook_max_age_seconds: float = Field(
        default=300,
        gt=0,
        description="A delivery older than this is not sent: closed as expired when its "
        "turn comes, failed when a retry would come later.",
    )
    webhook_retry_base_seconds: float = Field(
        default=1.0, gt=0, description="First retry delay (doubles per attempt, with jitter)."
    )
    webhook_retry_max_seconds: float = Field(
        default=30, gt=0, description="Longest delay between two attempts."
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often due retries are looked for."
    )
    webhook_health_max_pending_seconds: float = Field(
        default=60,
        gt=0,
        description="Health is degraded while the oldest open delivery is older than this.",
    )
    default_alert_threshold: float = Field(
        default=DEFAULT_ALERT_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="Alert threshold for newly imported models.",
    )
    alert_reasons: int = Field(
        default=3,
        ge=0,
        le=50,
        description="Features named as the reason of each alert (those that pushed its "
        "probability up most; predictions.reasons and the webhook payload); 0 = off.",
    )
    alert_reasons_method: Literal["path", "shap"] = Field(
        default="path",
        description="How alerts are explained: 'path' = tree-path contributions (Saabas) for "
        "forests and XGBoost; 'shap' = exact tree SHAP for XGBoost (forests stay 'path'), "
        "8-90x slower per batch of alerts.",
    )

    # --- replay (docs/evaluation.md "Replay") ---------------------------------------
    replay_max_rows: int = Field(
        default=2_000_000,
        ge=1,
        description="The most coin_metrics rows one replay may cover (a request's max_rows "
        "may be lower, not higher).",
    )
    replay_max_seconds: float = Field(
        default=600,
        gt=0,
        description="A replay still running after this long stops and is marked failed.",
    )
    replay_max_concurrent: int = Field(
        default=2,
        ge=1,
        description="Replays one process runs at once; a request beyond that is refused "
        "(429) until one ends.",
    )

    # --- logging --------------------------------------------------------------------
    log_level: LogLevel = Field(default="INFO", description="DEBUG … CRITICAL.")
    log_format: LogFormat = Field(default="text", description="text or json.")
    log_json_indent: int = Field(default=0, ge=0, description="JSON indent; 0 = compact.")

    # --- health ---------------------------------------------------------------------
    health_check_interval_seconds: float = Field(
        default=2.0, gt=0, description="How often the database connection is probed."
    )
    alert_precision_floor: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Health is degraded while an active model's live alert precision over its "
        "last ALERT_PRECISION_MIN_ALERTS evaluated alerts is below this (0: off).",
    )
    alert_precision_min_alerts: int = Field(
        default=50,
        ge=1,
        description="How many of a model's most recent evaluated alerts its live alert "
        "precision (gauge ml_model_alert_precision, ALERT_PRECISION_FLOOR) is computed over; "
        "the floor applies once it has this many.",
    )

    # --- outcome evaluation (docs/evaluation.md) ------------------------------------
    evaluation_enabled: bool = Field(
        default=True,
        description="Evaluate the predictions of models with a horizon (future_minutes) once "
        "it has passed: the pipeline queues them (prediction_evaluation_due) and the "
        "evaluator task works them off. Give every replica the same value: with false no "
        "replica queues or evaluates.",
    )
    evaluation_interval_seconds: float = Field(
        default=60,
        gt=0,
        description="How often the evaluator looks for due predictions. Each look takes a "
        "coin's due windows together and reads its rows once for all of them: with 60 s a "
        "coin on 5 s rows has ~12 overlapping 10-minute windows per look, read as ~130 rows "
        "instead of ~1,450. An outcome is stored up to this long after its check time.",
    )
    evaluation_batch_size: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="Due rows (coin, data timestamp, horizon) claimed per evaluator "
        "transaction; each covers every prediction of that coin snapshot with that horizon.",
    )
    evaluation_pace: float = Field(
        default=1.0,
        ge=0,
        le=100,
        description="After each full batch the evaluator pauses this many times the batch's "
        "time (1: it uses at most about half its time), so that its database work never comes "
        "in bursts that delay predictions; 0: no pause.",
    )
    evaluation_catch_up_seconds: float = Field(
        default=120,
        ge=0,
        description="Behind by more than this (its oldest due row waited longer), the "
        "evaluator does not pause: it catches up after downtime at full speed.",
    )
    evaluation_settle_seconds: float = Field(
        default=30,
        ge=0,
        description="How long after a prediction's horizon the first check waits (the "
        "collector's rows up to the horizon arrive meanwhile).",
    )
    evaluation_dead_coin_seconds: float = Field(
        default=600,
        ge=0,
        description="A coin with no row after the horizon is checked again until this long "
        "after the horizon, then evaluated from its last row (with a note).",
    )

    # --- retention (docs/retention.md) ----------------------------------------------
    partition_interval: timedelta = Field(
        default=timedelta(days=1),
        description="Time span of one partition of predictions, the webhook outbox and log and "
        "the evaluations (by data_timestamp, UTC): '1 day', '6 hours', '10 minutes' (whole "
        "seconds, 10 seconds to 31 days; also seconds or ISO 8601). Intervals under a minute "
        "are for tests and short soak runs.",
    )
    partitions_ahead: int = Field(
        default=3, ge=1, le=1000, description="Partitions kept ready after the current one."
    )
    partition_keeper_interval_seconds: float = Field(
        default=60, gt=0, description="How often the partition keeper creates and drops."
    )
    predictions_retention_days: float = Field(
        default=7,
        ge=0,
        description="A predictions partition is dropped once its whole range is older than "
        "this (fractions allowed: 0.01 = 14.4 minutes; 0 = keep forever). Its counts stay in "
        "prediction_model_daily_stats. Keep it longer than the longest model horizon.",
    )
    webhook_log_retention_days: float = Field(
        default=7, ge=0, description="The same for prediction_webhook_log (0 = keep forever)."
    )
    outbox_retention_days: float = Field(
        default=3,
        ge=0,
        description="The same for prediction_webhook_outbox; a partition with a pending or "
        "sending delivery is kept (0 = keep forever).",
    )
    evaluations_retention_days: float = Field(
        default=90,
        ge=0,
        description="The same for prediction_evaluations (0 = keep forever).",
    )

    # --- web UI: UI_HOST, UI_PORT, API_URL (see UiSettings) -----------------------

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("db_dsn", "n8n_webhook_url", "model_storage_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("partition_interval", mode="before")
    @classmethod
    def _parse_interval(cls, value: object) -> object:
        return parse_interval(value) if isinstance(value, str) else value

    @field_validator("partition_interval", mode="after")
    @classmethod
    def _whole_seconds(cls, value: timedelta) -> timedelta:
        seconds = value.total_seconds()
        if seconds < 10 or seconds > 31 * 86400 or seconds % 1:
            raise ValueError("must be whole seconds, from 10 seconds to 31 days")
        return value

    @field_validator("data_dir", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_DATA_DIR
        return value

    @field_validator("data_dir", "model_storage_path", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        """Resolved once, against the working directory at start-up (every log line and
        every part of the process then shows and uses the same absolute path)."""
        return None if value is None else value.expanduser().resolve()

    @property
    def models_dir(self) -> Path:
        """Directory for model files."""
        return self.model_storage_path or (self.data_dir / "models")

    @property
    def wakeup_interval_seconds(self) -> float:
        """How long the prediction workers and the catch-up poller sleep at most without a
        notification: ``min(POLLING_INTERVAL_SECONDS, BATCH_TIMEOUT_SECONDS)``."""
        return min(self.polling_interval_seconds, self.batch_timeout_seconds)


S = TypeVar("S", bound=UiSettings)

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600}
_UNITS |= {"hour": 3600, "d": 86400, "day": 86400, "w": 604800, "week": 604800}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$", re.IGNORECASE)


def parse_interval(text: str) -> timedelta | str:
    """``'10 minutes'``, ``'1 day'``, ``'6h'`` → a timedelta; anything else is returned as
    it is (pydantic then reads seconds, ``HH:MM:SS`` or ISO 8601, or reports it)."""
    found = _SPAN.match(text)
    if found is None or found.group(2).lower() not in _UNITS:
        return text
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2).lower()])


_SECRET_NAMES = ("KEY", "SECRET", "PASSWORD", "DSN")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        name = ".".join(str(p) for p in item.get("loc", ())).upper() or "?"
        value = item.get("input")
        secret = any(word in name for word in _SECRET_NAMES)
        shown = f"={value!r}" if isinstance(value, str | int | float) and not secret else ""
        parts.append(f"{name}{shown}: {item.get('msg', 'invalid')}")
    return "invalid configuration: " + "; ".join(parts)


def _build(kind: type[S], overrides: dict[str, object]) -> S:
    """``kind(**overrides)`` from env/.env, every failure as one SettingsError line."""
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except PydanticSettingsError as exc:
        raise SettingsError(f"invalid configuration: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the .env file in {Path.cwd()}: {exc}") from None


def load_settings(**overrides: object) -> Settings:
    """Build the settings from env/.env (plus explicit overrides) or raise SettingsError."""
    return _build(Settings, overrides)


def load_ui_settings(**overrides: object) -> UiSettings:
    """Only the web UI's settings from env/.env (plus overrides), or raise SettingsError."""
    return _build(UiSettings, overrides)
