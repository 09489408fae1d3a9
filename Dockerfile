# ml-prediction-service from one image: by default the API + pipeline and the web UI together
# (`serve --with-ui`, ports 8000 and 8501); `serve` alone or `ui` alone for two services.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    API_HOST=0.0.0.0 \
    API_PORT=8000 \
    UI_HOST=0.0.0.0 \
    UI_PORT=8501 \
    DATA_DIR=/app/data \
    MODEL_STORAGE_PATH=/app/models

WORKDIR /app

# The user and the directories it writes (a fresh named volume on /app/models takes this
# ownership, so uid 10001 can store imported models there).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/models /app/data \
    && chown -R app:app /app/models /app/data

# Dependencies first, from pyproject.toml alone: a change to the source does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The command (the package itself is /app/src, copied last, on PYTHONPATH: a change to the
# source rebuilds one small layer only).
ENV PYTHONPATH=/app/src
RUN printf '#!/bin/sh\nexec python -m ml_prediction_service "$@"\n' > /usr/local/bin/ml-prediction-service \
    && chmod 0755 /usr/local/bin/ml-prediction-service

USER 10001:10001

VOLUME ["/app/models"]
EXPOSE 8000 8501

# The API's health (in the one-container form the command exits when the UI dies). The UI
# service of docker-compose.yml overrides this with Streamlit's /_stcore/health.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('API_PORT', '8000') + '/api/health', timeout=4)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["ml-prediction-service"]
CMD ["serve", "--with-ui"]

COPY src /app/src
