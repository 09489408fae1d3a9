"""Errors of the feature contract, each with a stable machine-readable ``code``."""

from __future__ import annotations

from typing import ClassVar


class FeatureContractError(ValueError):
    """A model cannot be served with the features the contract defines.

    ``code`` is stable (for API error bodies, metrics labels and logs); ``message`` is for
    people. Subclasses fix the code.
    """

    code: ClassVar[str] = "feature_contract_error"

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.model = model


class InvalidModelMetadataError(FeatureContractError):
    """The model's ``features`` or ``params`` are malformed (wrong types, bad windows)."""

    code: ClassVar[str] = "invalid_model_metadata"


class FeatureCountMismatchError(FeatureContractError):
    """The resolved input columns do not match the estimator's ``n_features_in_``."""

    code: ClassVar[str] = "feature_count_mismatch"

    def __init__(self, message: str, *, model: str | None, expected: int, got: int) -> None:
        super().__init__(message, model=model)
        self.expected = expected
        self.got = got


class UnknownFeatureError(FeatureContractError):
    """The model lists feature names the service cannot compute."""

    code: ClassVar[str] = "unknown_features"

    def __init__(
        self,
        message: str,
        *,
        model: str | None,
        unknown: list[str],
        known: list[str],
    ) -> None:
        super().__init__(message, model=model)
        self.unknown = unknown
        self.known = known
