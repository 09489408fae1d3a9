# ml-prediction-service: the API (default command) and, from the same image, the web UI.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    API_HOST=0.0.0.0 \
    API_PORT=8000 \
    DATA_DIR=/app/data \
    MODEL_STORAGE_PATH=/app/models

WORKDIR /app

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . \
    && mkdir -p /app/models /app/data \
    && chown -R app:app /app/models /app/data

USER 10001:10001

VOLUME ["/app/models"]
EXPOSE 8000 8501

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('API_PORT', '8000') + '/api/health', timeout=4)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["ml-prediction-service"]
CMD ["serve"]
