"""Request/response models of the model endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from ml_prediction_service.api.params import JsonObject, Text
from ml_prediction_service.db.limits import INT32_MAX, PERCENT_LIMIT, TARGET_VALUE_LIMIT


class ModelImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_id: int = Field(
        ge=1, le=2**63 - 1, description="ml_models.id of a READY training-service model"
    )


class ModelRename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=255, description="New display name")
    description: Text | None = Field(
        default=None,
        max_length=10_000,
        description="New description (omitted or null: unchanged; empty: removed)",
    )


class AlertThresholdUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert_threshold: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class UploadMetadata(BaseModel):
    """Metadata that accompanies an uploaded model file (same meaning as in ml_models)."""

    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=255)
    model_type: Literal["random_forest", "xgboost"]
    target_variable: Text = Field(min_length=1, max_length=100)
    target_operator: Literal[">", "<", ">=", "<=", "="] | None = None
    target_value: float | None = Field(
        None, gt=-TARGET_VALUE_LIMIT, lt=TARGET_VALUE_LIMIT, allow_inf_nan=False
    )
    future_minutes: int | None = Field(None, ge=0, le=INT32_MAX)
    price_change_percent: float | None = Field(
        None, gt=-PERCENT_LIMIT, lt=PERCENT_LIMIT, allow_inf_nan=False
    )
    target_direction: Literal["up", "down"] | None = None
    features: list[Text] = Field(min_length=1)
    phases: list[Annotated[int, Field(ge=0, le=INT32_MAX)]] | None = None
    params: JsonObject = Field(default_factory=dict)
    description: Text | None = None


class RuntimeRead(BaseModel):
    status: Literal["loaded", "error", "loading", "inactive"]
    runtime: str | None = Field(description="onnxruntime, sklearn, xgboost-inplace, …")
    error: str | None = Field(description="Why the model cannot be served, if it cannot")
    note: str | None = Field(description="Why a faster runtime was not used, if it was not")
    input_features: int | None
    library: str | None = Field(None, description="Library that wrote the model file")
    library_version: str | None = Field(
        None, description="That library's version, as recorded in the file"
    )
    installed_version: str | None = Field(
        None, description="The version of that library serving it here"
    )
    adjustments: list[str] = Field(
        default_factory=list,
        description="What was adapted so the file computes what it computed when written",
    )
    probe_rows: int | None = Field(None, description="Rows of the import probe")
    probe_max_diff: float | None = Field(
        None,
        description="Largest |runtime − the library's predict_proba| on the import probe",
    )


class ActiveModelRead(BaseModel):
    id: int = Field(description="active model id (prediction_active_models.id)")
    model_id: int = Field(description="ml_models.id (negative for uploads)")
    name: str = Field(description="custom name if set, else the model name")
    model_name: str
    custom_name: str | None
    model_type: str
    target_variable: str
    target_operator: str | None
    target_value: float | None
    future_minutes: int | None
    price_change_percent: float | None
    target_direction: str | None
    features: list[str]
    phases: list[int] | None
    params: dict[str, Any] | None
    alert_threshold: float
    is_active: bool
    total_predictions: int
    last_prediction_at: datetime | None
    downloaded_at: datetime | None
    activated_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    local_model_path: str
    model_file_url: str | None
    model_sha256: str | None
    model_file_size: int | None
    source: str
    description: str | None
    training_metrics: dict[str, Any] | None
    webhook_url: str | None = None
    webhook_enabled: bool = True
    webhook_send_mode: list[str] = Field(default_factory=lambda: ["all"])
    ignore_alert_seconds: int = 0
    ignore_positive_seconds: int = 0
    ignore_negative_seconds: int = 0
    coin_filter_mode: Literal["all", "whitelist", "blacklist"] = "all"
    coin_filter: list[str] = Field(default_factory=list)
    model_library: str | None = Field(None, description="Library that wrote the model file")
    model_library_version: str | None = Field(
        None, description="That library's version, as recorded in the file at import"
    )
    runtime: RuntimeRead


class ModelsListResponse(BaseModel):
    models: list[ActiveModelRead]
    total: int


class AvailableModelRead(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    name: str
    model_type: str
    status: str
    description: str | None = None
    target_variable: str | None = None
    target_operator: str | None = None
    target_value: float | None = None
    future_minutes: int | None = None
    price_change_percent: float | None = None
    target_direction: str | None = None
    features: list[str] | None = Field(None, description="None when the row's value is unreadable")
    phases: list[int] | None = None
    params: dict[str, Any] | None = None
    training_accuracy: float | None = None
    training_f1: float | None = None
    roc_auc: float | None = None
    created_at: datetime | None = None
    already_imported: bool
    active_model_id: int | None
    importable: bool = Field(description="False when the row cannot be read (see reason)")
    reason: str | None = Field(None, description="Why the row cannot be imported")


class AvailableModelsResponse(BaseModel):
    models: list[AvailableModelRead]
    total: int
    reason: str | None = Field(description="Why the list is empty, when it is for a reason")


class DeletedModelRead(BaseModel):
    id: int
    model_id: int
    name: str
    deleted: bool = True


IgnoreSeconds = Field(None, ge=0, le=30 * 86400, description="Seconds of coin time; 0: off")


class IgnoreWindowsUpdate(BaseModel):
    """After a coin's prediction with a tag was sent, the model sends nothing more of that
    tag for the coin until the window ends (such predictions are stored as suppressed)."""

    model_config = ConfigDict(extra="forbid")
    alert: int | None = IgnoreSeconds
    positive: int | None = IgnoreSeconds
    negative: int | None = IgnoreSeconds


class CoinFilterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["all", "whitelist", "blacklist"]
    coins: list[Text] = Field(
        default_factory=list, max_length=100_000, description="Mints (coin_metrics.mint)"
    )


class ModelDefaultsRead(BaseModel):
    alert_threshold: float
    webhook_url: str | None
    webhook_enabled: bool
    webhook_send_mode: list[str]
    ignore_alert_seconds: int
    ignore_positive_seconds: int
    ignore_negative_seconds: int
    coin_filter_mode: str
    coin_filter: list[str]
    stored: bool = Field(description="False: nothing stored yet, these come from the environment")


class ModelDefaultsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert_threshold: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False)
    webhook_url: AnyHttpUrl | None = None
    webhook_enabled: bool | None = None
    webhook_send_mode: (
        list[Literal["all", "alerts_only", "positive_only", "negative_only", "evaluations"]] | None
    ) = Field(None, min_length=1)
    ignore_alert_seconds: int | None = IgnoreSeconds
    ignore_positive_seconds: int | None = IgnoreSeconds
    ignore_negative_seconds: int | None = IgnoreSeconds
    coin_filter_mode: Literal["all", "whitelist", "blacklist"] | None = None
    coin_filter: list[Text] | None = Field(None, max_length=100_000)
