"""Model files on disk: streamed download into a temp file, sha256, atomic placement."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from ml_prediction_service.models.errors import (
    DownloadError,
    ModelFileError,
    TrainingServiceUnavailable,
)

MAX_MODEL_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 16


@dataclass(frozen=True)
class StagedFile:
    """A verified-size file in the models directory, not yet in its final place."""

    path: Path
    sha256: str
    size: int
    label: str | None = None  # how messages name it (an upload: the client's file name)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def temp_path(models_dir: Path) -> Path:
    models_dir.mkdir(parents=True, exist_ok=True)
    return models_dir / f".incoming-{uuid.uuid4().hex}.part"


def final_path(models_dir: Path, model_id: int, sha256: str) -> Path:
    prefix = f"model_{model_id}" if model_id >= 0 else f"upload_{-model_id}"
    return models_dir / f"{prefix}_{sha256[:12]}.joblib"


def place(staged: StagedFile, destination: Path) -> Path:
    """Move the staged file to ``destination`` atomically (same directory, os.replace)."""
    os.replace(staged.path, destination)
    return destination


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def download_model_file(
    client: httpx.AsyncClient,
    base_url: str,
    model_id: int,
    models_dir: Path,
    *,
    max_bytes: int = MAX_MODEL_BYTES,
) -> StagedFile:
    """GET ``{base_url}/models/{id}/download`` into a temp file; verify size and type."""
    url = f"{base_url.rstrip('/')}/models/{model_id}/download"
    target = temp_path(models_dir)
    digest = hashlib.sha256()
    size = 0
    try:
        async with client.stream("GET", url) as response:
            if response.status_code == 404:
                raise DownloadError(
                    f"training service has no file for model {model_id} (404 from {url})",
                    status=404,
                    code="model_file_not_found",
                )
            if response.status_code != 200:
                body = (await response.aread())[:200].decode("utf-8", "replace")
                raise DownloadError(
                    f"training service answered {response.status_code} for {url}: {body}"
                )
            ctype = response.headers.get("content-type", "")
            if ctype.startswith(("text/html", "application/json", "text/plain")):
                raise ModelFileError(
                    f"training service sent {ctype!r} instead of a model file for model "
                    f"{model_id} ({url})"
                )
            declared = response.headers.get("content-length")
            if declared is not None and int(declared) > max_bytes:
                raise ModelFileError(
                    f"model file is {int(declared)} bytes, more than the limit of {max_bytes}",
                    status=413,
                    code="model_file_too_large",
                )
            with target.open("wb") as fh:
                async for chunk in response.aiter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ModelFileError(
                            f"model file exceeds the limit of {max_bytes} bytes",
                            status=413,
                            code="model_file_too_large",
                        )
                    digest.update(chunk)
                    fh.write(chunk)
            if declared is not None and size != int(declared):
                raise DownloadError(
                    f"truncated download of model {model_id}: got {size} of {declared} bytes"
                )
    except httpx.TimeoutException as exc:
        target.unlink(missing_ok=True)
        raise TrainingServiceUnavailable(
            f"training service timed out downloading model {model_id} from {url}"
        ) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        target.unlink(missing_ok=True)
        raise DownloadError(f"truncated download of model {model_id} from {url}: {exc}") from exc
    except httpx.TransportError as exc:
        target.unlink(missing_ok=True)
        raise TrainingServiceUnavailable(
            f"training service not reachable at {url}: {type(exc).__name__}: {exc}"
        ) from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise ModelFileError(f"training service sent an empty file for model {model_id}")
    return StagedFile(target, digest.hexdigest(), size)


def stage_bytes(
    data: bytes,
    models_dir: Path,
    *,
    max_bytes: int = MAX_MODEL_BYTES,
    filename: str | None = None,
) -> StagedFile:
    """Stage uploaded bytes like a download; messages name it by the client's ``filename``."""
    label = f"{filename!r}" if filename else None
    what = f"uploaded model file {label}" if label else "uploaded model file"
    if not data:
        raise ModelFileError(f"{what} is empty")
    if len(data) > max_bytes:
        raise ModelFileError(
            f"{what} is {len(data)} bytes, more than the limit of {max_bytes}",
            status=413,
            code="model_file_too_large",
        )
    target = temp_path(models_dir)
    target.write_bytes(data)
    return StagedFile(target, hashlib.sha256(data).hexdigest(), len(data), label)
