"""The one way tests build the service's settings."""

from __future__ import annotations

from pathlib import Path

from ml_prediction_service.config import Settings


def service_settings(
    tmp_path: Path, *, training_url: str | None = None, **overrides: object
) -> Settings:
    """Settings of a service under test: no ``.env`` file, local state under ``tmp_path``,
    then ``overrides`` (field names).

    With ``training_url`` (the training-service stand-in's API) they are a whole world's: model
    files under ``tmp_path/models``, fast health checks and model refreshes (0.5 s), and a 5 s
    model download timeout.
    """
    values: dict[str, object] = {"_env_file": None, "data_dir": tmp_path}
    if training_url is not None:
        values.update(
            model_storage_path=tmp_path / "models",
            training_service_api_url=training_url,
            health_check_interval_seconds=0.5,
            model_refresh_interval_seconds=0.5,
            model_download_timeout_seconds=5,
        )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
