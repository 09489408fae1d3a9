#!/usr/bin/env bash
# docker-check.sh: build the image and run it for real, end to end, in both Docker forms.
#
#   scripts/docker-check.sh            (from the repository root or anywhere inside it)
#
# 1. builds the image (ml-prediction-service:latest; SKIP_BUILD=1 reuses an existing one);
# 2. starts a throw-away PostgreSQL (Debian's `postgresql` package: initdb + pg_ctl) on a free
#    port of 127.0.0.1, and creates the stand-in tables (`dev-schema`);
# 3. records a demo model (`train-demo`) and runs the training-service stand-in, both from
#    the image, plus a small webhook receiver on 127.0.0.1 (python3);
# 4. one-container form (the image's default `serve --with-ui`): imports the model through
#    the API, inserts metric rows (`simulate`), waits for predictions (GET /api/predictions)
#    and a webhook, checks the UI (/_stcore/health and the page), the models volume
#    (written by uid 10001), the HEALTHCHECK, and a clean `docker stop` (exit code 0);
# 5. the same through docker-compose.yml + docker-compose.host.yml (two services);
# 6. stops and removes everything it started (trap), also on failure.
#
# Docker: uses DOCKER_HOST / the default engine when `docker info` answers; otherwise starts
# the development machines' sandbox engine ($DOCKER_SANDBOX, default
# /work/shared/tools/docker-sandbox.sh), and stops it again at the end. Containers use the
# host's network (the sandbox has no bridge), so every server binds 127.0.0.1.
# Needs: docker, docker-compose (v1) or `docker compose`, PostgreSQL server binaries
# (apt-get install -y postgresql), curl, python3. Not part of the test suite (takes ~15 min,
# most of it the first build). Exit 0 only if every step worked; the last line is a summary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${IMAGE:-ml-prediction-service:latest}
SANDBOX=${DOCKER_SANDBOX:-/work/shared/tools/docker-sandbox.sh}
API_KEY=docker-check-key
WORK=$(mktemp -d /tmp/docker-check.XXXXXX)
chmod 0755 "$WORK"
TAG=dc$$
PROJECT="mps-check-$$"
T0=$(date +%s)
declare -a TIMINGS=()
declare -a CONTAINERS=()
declare -a VOLUMES=()
PG_BIN=""
PG_DATA="$WORK/pg"
RECEIVER_PID=""
STARTED_SANDBOX=0
COMPOSE_UP=0
STEP="start"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
say() { printf '[docker-check %4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
fail() {
  say "FAILED at step '$STEP': $*"
  exit 1
}
timed() { # timed NAME START: record how long a phase took
  TIMINGS+=("$1 $(($(date +%s) - $2))s")
}
timings() { # the recorded phases, comma-separated
  local IFS=,
  echo "${TIMINGS[*]:-none}" | sed 's/,/, /g'
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

compose() {
  API_PORT=$C_API_PORT UI_PORT=$C_UI_PORT DB_DSN=$DSN API_KEY=$API_KEY \
    TRAINING_SERVICE_API_URL=$TRAINING_URL N8N_WEBHOOK_URL=$HOOK_URL LOG_FORMAT=text \
    "${COMPOSE_CMD[@]}" -p "$PROJECT" -f "$ROOT/docker-compose.yml" \
    -f "$ROOT/docker-compose.host.yml" "$@"
}

cleanup() {
  local code=$?
  set +e
  trap - EXIT INT TERM
  say "cleaning up …"
  if ((COMPOSE_UP)); then
    if ((code != 0)); then
      echo "--- last log lines of the compose services" >&2
      compose logs --no-color --tail=25 >&2 2>&1
    fi
    compose down -v --timeout 20 >/dev/null 2>&1
  fi
  for name in "${CONTAINERS[@]}"; do
    if ((code != 0)); then
      echo "--- last log lines of $name" >&2
      docker logs --tail 25 "$name" >&2 2>&1
    fi
    docker rm -fv "$name" >/dev/null 2>&1
  done
  for vol in "${VOLUMES[@]}"; do docker volume rm -f "$vol" >/dev/null 2>&1; done
  [ -n "$RECEIVER_PID" ] && kill "$RECEIVER_PID" 2>/dev/null
  if [ -n "$PG_BIN" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1
  fi
  if ((STARTED_SANDBOX)); then "$SANDBOX" stop >/dev/null 2>&1; fi
  rm -rf "$WORK"
  local total=$(($(date +%s) - T0))
  if ((code == 0)); then
    echo "docker-check: OK in ${total}s ($(timings))"
  else
    echo "docker-check: FAILED at step '$STEP' after ${total}s ($(timings))"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds (every second)
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  fail "$what did not happen within ${seconds}s"
}

wait_api_healthy() { # wait_api_healthy FORM: until GET /api/health is 200 (else say why not)
  local body
  for _ in $(seq 90); do
    curl -fsS -o /dev/null "$API/api/health" 2>/dev/null && return 0
    sleep 1
  done
  body=$(curl -sS "$API/api/health" 2>&1)
  fail "the API ($1) is not healthy after 90s: $body"
}

api() { # api METHOD PATH [JSON]: the API's answer (fails on HTTP >= 400)
  local args=(-fsS -X "$1" -H "X-API-Key: $API_KEY" "$API/$2")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
  curl "${args[@]}"
}

json() { # json EXPR < document: evaluate a Python expression on the parsed JSON `d`
  python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"
}

# --- Docker ------------------------------------------------------------------------------
STEP="docker"
if ! docker info >/dev/null 2>&1; then
  [ -x "$SANDBOX" ] || fail "no Docker engine answers (set DOCKER_HOST) and no $SANDBOX"
  say "no Docker engine answers: starting the sandbox engine ($SANDBOX start) …"
  eval "$("$SANDBOX" start | tail -n 1)"
  export DOCKER_HOST
  docker info >/dev/null 2>&1 || fail "the sandbox engine does not answer"
  # A daemon that was already running stays running: the sandbox prints the same either way,
  # so only stop it at the end if its pid file is newer than this script's start.
  if [ "$(stat -c %Y "${DOCKER_SANDBOX_DIR:-/tmp/docker-sandbox}/dockerd.pid")" -ge "$T0" ]; then
    STARTED_SANDBOX=1
  fi
fi
if docker-compose version >/dev/null 2>&1; then
  COMPOSE_CMD=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  COMPOSE_CMD=(docker compose)
else
  fail "neither docker-compose nor 'docker compose' is installed"
fi
for tool in curl python3; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done

# --- build -------------------------------------------------------------------------------
STEP="build"
start=$(date +%s)
if [ "${SKIP_BUILD:-0}" = 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "SKIP_BUILD=1: using the existing $IMAGE"
else
  say "building $IMAGE (first build ~10 min on the sandbox's vfs storage) …"
  docker build --network host -t "$IMAGE" "$ROOT" >"$WORK/build.log" 2>&1 \
    || { tail -n 30 "$WORK/build.log" >&2; fail "docker build failed"; }
fi
timed build "$start"

run_in_image() { # one command of the image on the host network, removed afterwards
  docker run --rm --network host -e DB_DSN="$DSN" -e LOG_LEVEL=WARNING "$@"
}

# --- PostgreSQL --------------------------------------------------------------------------
STEP="postgres"
start=$(date +%s)
PG_BIN=$(find /usr/lib/postgresql -maxdepth 3 -name initdb -path '*/bin/*' 2>/dev/null \
  | sort -V | tail -n 1 | xargs -r dirname)
[ -n "$PG_BIN" ] || fail "no PostgreSQL server binaries: apt-get install -y postgresql"
mkdir -p "$PG_DATA"
[ "$(id -u)" = 0 ] && chown postgres "$PG_DATA"
PG_PORT=$(free_port)
as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 >"$WORK/initdb.log" 2>&1 \
  || { cat "$WORK/initdb.log" >&2; fail "initdb failed"; }
as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DATA" start >/dev/null \
  || { cat "$PG_DATA/server.log" >&2; fail "PostgreSQL did not start"; }
as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres crypto
DSN="postgresql://postgres@127.0.0.1:$PG_PORT/crypto"
say "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on $DSN"
timed postgres "$start"

# --- stand-ins: schema, a demo model, the training service, a webhook receiver ------------
STEP="stand-ins"
start=$(date +%s)
run_in_image "$IMAGE" dev-schema
mkdir -p "$WORK/ts" && chmod 0777 "$WORK/ts"
run_in_image -v "$WORK/ts:/ts" "$IMAGE" train-demo --name "Check RF" --coins 30 \
  --models-dir /ts/models | sed 's/^/  /'
TS_PORT=$(free_port)
TRAINING_URL="http://127.0.0.1:$TS_PORT/api"
CONTAINERS+=("$TAG-training")
docker run -d --name "$TAG-training" --network host -e DB_DSN="$DSN" -v "$WORK/ts:/ts" \
  "$IMAGE" training-service --host 127.0.0.1 --port "$TS_PORT" >/dev/null
wait_for 60 "the training-service stand-in answering" curl -fsS "$TRAINING_URL/models"

HOOK_PORT=$(free_port)
HOOK_URL="http://127.0.0.1:$HOOK_PORT/hook"
HOOKS="$WORK/webhooks.jsonl"
: >"$HOOKS"
python3 - "$HOOK_PORT" "$HOOKS" <<'EOF' >"$WORK/receiver.log" 2>&1 &
import http.server, sys
port, path = int(sys.argv[1]), sys.argv[2]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(path, "ab") as out:
            out.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
http.server.ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()
EOF
RECEIVER_PID=$!
wait_for 20 "the webhook receiver listening" curl -sS -o /dev/null "http://127.0.0.1:$HOOK_PORT/"
say "training service $TRAINING_URL, webhook receiver $HOOK_URL"
timed stand-ins "$start"

# --- shared checks of a running API + UI --------------------------------------------------
health_of() { docker inspect -f '{{.State.Health.Status}}' "$1"; }
is_healthy() { [ "$(health_of "$1")" = healthy ]; }
predictions_total() { api GET "api/predictions?limit=1" | json 'd["total"]'; }
more_predictions() { [ "$(predictions_total)" -gt "$1" ]; }
more_webhooks() { [ "$(wc -l <"$HOOKS")" -gt "$1" ]; }

simulate_and_expect() { # simulate_and_expect FORM: new rows in, new predictions and webhooks out
  local before hooks_before
  before=$(predictions_total)
  hooks_before=$(wc -l <"$HOOKS")
  run_in_image "$IMAGE" simulate --coins 8 --duration 15 --speed 60 --progress-interval 30 \
    | sed 's/^/  /'
  wait_for 90 "new predictions ($1)" more_predictions "$before"
  wait_for 90 "a webhook at the receiver ($1)" more_webhooks "$hooks_before"
  say "$1: predictions $before -> $(predictions_total), webhooks received $hooks_before -> $(wc -l <"$HOOKS")"
}

models_written_by_app() { # models_written_by_app CONTAINER FORM: model files of uid 10001
  docker exec "$1" python -c "import os, sys; d = '/app/models'; f = os.listdir(d); \
sys.exit(0 if f and all(os.stat(os.path.join(d, n)).st_uid == 10001 for n in f) else 1)" \
    || fail "the models volume holds no model file written by uid 10001 ($2)"
}

stops_cleanly() { # stops_cleanly CONTAINER...: each exited 0 after SIGTERM (not killed)
  local c code
  for c in "$@"; do
    code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
    [ "$code" = 0 ] || fail "container $c exited with $code after SIGTERM (not a clean stop)"
  done
}

check_ui() { # check_ui FORM PORT
  local ui="http://127.0.0.1:$2"
  wait_for 90 "the UI answering ($1)" curl -fsS "$ui/_stcore/health"
  [ "$(curl -fsS "$ui/_stcore/health")" = ok ] || fail "UI health is not 'ok' ($1)"
  local page
  page=$(curl -fsS "$ui/") || fail "the UI page did not load ($1)"
  grep -qi "<title>" <<<"$page" || fail "the UI page has no <title> ($1)"
  say "$1: UI $ui answers (/_stcore/health ok, page served)"
}

# --- one container: API + pipeline + UI (the image's default command) ----------------------
STEP="one-container"
start=$(date +%s)
API_PORT=$(free_port)
UI_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"
APP="$TAG-app"
VOLUMES+=("$TAG-models")
CONTAINERS+=("$APP")
docker run -d --name "$APP" --network host -v "$TAG-models:/app/models" \
  -e DB_DSN="$DSN" -e API_HOST=127.0.0.1 -e API_PORT="$API_PORT" -e UI_HOST=127.0.0.1 \
  -e UI_PORT="$UI_PORT" -e API_KEY="$API_KEY" -e TRAINING_SERVICE_API_URL="$TRAINING_URL" \
  -e N8N_WEBHOOK_URL="$HOOK_URL" "$IMAGE" >/dev/null
wait_for 180 "the API answering" curl -sS -o /dev/null "$API/api/health"
wait_api_healthy one-container
MODEL_ID=$(api GET api/models/available | json '[m["id"] for m in d["models"] if m["name"] == "Check RF"][0]')
IMPORTED=$(api POST api/models/import "{\"model_id\": $MODEL_ID}" | json 'd["id"]')
say "one-container: model $MODEL_ID imported through the API as active model $IMPORTED"
models_written_by_app "$APP" one-container
simulate_and_expect one-container
check_ui one-container "$UI_PORT"
wait_for 120 "the container's HEALTHCHECK reporting healthy" is_healthy "$APP"
stop_start=$(date +%s)
docker stop -t 20 "$APP" >/dev/null
stops_cleanly "$APP"
curl -s -o /dev/null "$API/" && fail "the API still answers after docker stop"
curl -s -o /dev/null "http://127.0.0.1:$UI_PORT/" && fail "the UI still answers after docker stop"
say "one-container: healthy; docker stop took $(($(date +%s) - stop_start))s, exit code 0"
docker rm -v "$APP" >/dev/null
timed one-container "$start"

# --- Compose: two services from the same image --------------------------------------------
STEP="compose"
start=$(date +%s)
C_API_PORT=$(free_port)
C_UI_PORT=$(free_port)
API="http://127.0.0.1:$C_API_PORT"
COMPOSE_UP=1
compose up -d --no-build >"$WORK/compose-up.log" 2>&1 \
  || { cat "$WORK/compose-up.log" >&2; fail "docker-compose up failed"; }
API_C=$(compose ps -q api)
UI_C=$(compose ps -q ui)
wait_for 180 "the compose API answering" curl -sS -o /dev/null "$API/api/health"
# The model imported in the one-container form is active in the database, but its file is in
# that form's volume: this fresh `models` volume has none, so the service reports the model
# failing until it is downloaded again (POST /api/models/{id}/reimport).
api POST "api/models/$IMPORTED/reimport" >/dev/null || fail "re-import into the compose volume"
say "compose: model file downloaded again into the compose models volume (reimport)"
wait_api_healthy compose
models_written_by_app "$API_C" compose
simulate_and_expect compose
check_ui compose "$C_UI_PORT"
wait_for 120 "the compose api service healthy" is_healthy "$API_C"
wait_for 120 "the compose ui service healthy (/_stcore/health)" is_healthy "$UI_C"
say "compose: api $(health_of "$API_C"), ui $(health_of "$UI_C")"
stop_start=$(date +%s)
compose stop --timeout 20 >/dev/null 2>&1
stops_cleanly "$API_C" "$UI_C"
say "compose: stop took $(($(date +%s) - stop_start))s, both services exit code 0"
compose down -v --timeout 20 >/dev/null 2>&1
COMPOSE_UP=0
timed compose "$start"
STEP="done"
