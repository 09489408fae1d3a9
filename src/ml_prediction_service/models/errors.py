"""Errors of the model registry. Each carries a stable code and an HTTP status."""

from __future__ import annotations

from ml_prediction_service.errors import ServiceError


class ModelFileError(ServiceError):
    """A model file is missing, corrupt, truncated, foreign or of the wrong kind."""

    code = "invalid_model_file"
    status = 422


class DownloadError(ServiceError):
    """The training service did not deliver the model file."""

    code = "download_failed"
    status = 502


class TrainingServiceUnavailable(DownloadError):
    code = "training_service_unavailable"
    status = 502
