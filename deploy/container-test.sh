#!/usr/bin/env bash
# Builds the container image from deploy/Dockerfile with podman and runs it as a deployment
# would, against `groupsync sandbox` running on this machine (127.0.0.1):
#
#   deploy/container-test.sh [HOST_BINARY]
#
# HOST_BINARY (default target/release/groupsync, else target/debug/groupsync) runs the
# sandbox; it needs the `sandbox` command (default features). The image runs:
#   - `serve`: read-only root, uid 10001, capabilities dropped, the configuration mounted
#     read-only, every secret as a file (*_file keys), /data a named volume, the host's
#     network. Checked: /healthz, /readyz, a run triggered by the webhook (the sample event
#     of deploy/examples/), /metrics, the dashboard behind the admin token, logs without ANSI
#     colour codes, SIGTERM (podman stop) ends it within its grace period;
#   - `executions list` in a second container on the same volume: the run is in the store;
#   - `run` (the CronJob form): one sync, exit 0.
#
# Where podman cannot run containers at all (not root, no user namespaces, ...), it says why
# and exits 0, or 1 when GROUPSYNC_REQUIRE_CONTAINER=1. Once containers run, any failure is
# a failure. Everything it starts (containers, the volume, the sandbox) is removed on exit;
# the base images (deploy/container-bases.sh) and the image's layers stay, as build caches.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

unavailable() {
  echo "container test not run: $*"
  if [ "${GROUPSYNC_REQUIRE_CONTAINER:-0}" = 1 ]; then
    echo "GROUPSYNC_REQUIRE_CONTAINER=1: failing" >&2
    exit 1
  fi
  exit 0
}

[ "$(id -u)" = 0 ] || unavailable "the base images are made with debootstrap, which needs root"
for tool in podman runc debootstrap python3 curl; do
  command -v "$tool" >/dev/null || unavailable "$tool is not installed"
done
. deploy/container-env.sh
probe=$(pm info 2>&1) || unavailable "podman does not work here: $(tail -3 <<<"$probe")"

BIN=${1:-}
if [ -z "$BIN" ]; then
  for candidate in target/release/groupsync target/debug/groupsync; do
    [ -x "$candidate" ] && { BIN=$ROOT/$candidate; break; }
  done
  [ -n "$BIN" ] || { cargo build --quiet --bin groupsync; BIN=$ROOT/target/debug/groupsync; }
fi

deploy/container-bases.sh
probe=$(pm run --rm --pull=never --network host docker.io/library/debian:bookworm-slim true 2>&1) \
  || unavailable "podman cannot run a container here: $(tail -3 <<<"$probe")"

IMAGE=localhost/groupsync:test
TAG=$$
SERVE=groupsync-test-serve-$TAG
VOLUME=groupsync-test-data-$TAG
WORK=$(mktemp -d)
SANDBOX_PID=
cleanup() {
  for name in "$SERVE" "groupsync-test-list-$TAG" "groupsync-test-run-$TAG"; do
    pm rm -f -t 0 "$name" >/dev/null 2>&1 || true
  done
  pm volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  if [ -n "$SANDBOX_PID" ]; then
    kill "$SANDBOX_PID" 2>/dev/null || true
    wait "$SANDBOX_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
  echo "container test failed: $*" >&2
  if pm container exists "$SERVE" 2>/dev/null; then
    echo "--- podman logs $SERVE (last 40 lines)" >&2
    pm logs "$SERVE" 2>&1 | tail -40 >&2
  fi
  exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "--- podman build -f deploy/Dockerfile"
started=$(date +%s)
pm build --pull=never --network host -f deploy/Dockerfile -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
  || { tail -60 "$WORK/build.log" >&2; fail "podman build"; }
echo "built $IMAGE in $(( $(date +%s) - started )) s"
size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
base=$(pm image inspect --format '{{.Size}}' docker.io/library/debian:bookworm-slim)
echo "image size $(( size / 1000000 )) MB: $(( (size - base) / 1000000 )) MB over the base image ($(( base / 1000000 )) MB)"

echo "--- the sandbox on 127.0.0.1 (host binary $BIN)"
"$BIN" sandbox --groups 120 --existing 10 --write-config "$WORK/sandbox.toml" \
  >"$WORK/sandbox.out" 2>"$WORK/sandbox.log" &
SANDBOX_PID=$!
for _ in $(seq 1 100); do grep -q '^config ' "$WORK/sandbox.out" && break; sleep 0.2; done
grep -q '^config ' "$WORK/sandbox.out" || { cat "$WORK/sandbox.log" >&2; fail "the sandbox did not start"; }

# The sandbox's configuration, as a deployment holds it: every secret in a file of its own
# (readable by the container's user only), the rest in the configuration file.
PORT=$(free_port)
mkdir -p "$WORK/secrets"
python3 - "$WORK/sandbox.toml" "$WORK/groupsync.toml" "$WORK/secrets" "$PORT" >"$WORK/tokens" <<'PY'
import pathlib, re, sys
source, target, secrets, port = sys.argv[1:]
section, out, tokens = "", [], {}
for line in pathlib.Path(source).read_text().splitlines():
    if m := re.match(r"^\[(\w+)\]", line):
        section = m.group(1)
    m = re.match(r'^(client_secret|token|admin_token|password) = "(.*)"$', line)
    if m:
        name = f"{section}_{m.group(1)}"
        pathlib.Path(secrets, name).write_text(m.group(2) + "\n")
        tokens[name] = m.group(2)
        line = f'{m.group(1)}_file = "/run/secrets/groupsync/{name}"'
    elif line.startswith("listen = "):
        line = f'listen = "127.0.0.1:{port}"'
    elif line.startswith("schedule = "):
        line = 'schedule = ""'  # runs come from the webhook only
    out.append(line)
pathlib.Path(target).write_text("\n".join(out) + "\n")
print(tokens["webhook_token"], tokens["server_admin_token"])
PY
read -r WEBHOOK_TOKEN ADMIN_TOKEN <"$WORK/tokens"
chown -R 10001:10001 "$WORK/secrets"
chmod 0500 "$WORK/secrets"
chmod 0400 "$WORK/secrets"/*
chmod 0644 "$WORK/groupsync.toml"
grep -q '_file = ' "$WORK/groupsync.toml" || fail "no secret was moved to a file"

pm volume create "$VOLUME" >/dev/null
# How a deployment runs the image (compare deploy/kubernetes/deployment.yaml).
run_args=(--pull=never --network host --read-only --user 10001:10001 --cap-drop ALL
  --security-opt no-new-privileges
  -v "$WORK/groupsync.toml:/etc/groupsync/groupsync.toml:ro"
  -v "$WORK/secrets:/run/secrets/groupsync:ro"
  -v "$VOLUME:/data")

echo "--- serve"
pm run -d --name "$SERVE" "${run_args[@]}" "$IMAGE" >/dev/null
URL=http://127.0.0.1:$PORT
code=
for _ in $(seq 1 150); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz" || true)
  [ "$code" = 200 ] && break
  [ "$(pm inspect -f '{{.State.Running}}' "$SERVE")" = true ] || fail "the container exited"
  sleep 0.2
done
[ "$code" = 200 ] || fail "/healthz answered $code"
echo "/healthz 200"
for _ in $(seq 1 150); do
  code=$(curl -s -o "$WORK/readyz" -w '%{http_code}' "$URL/readyz" || true)
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || fail "/readyz answered $code: $(cat "$WORK/readyz")"
echo "/readyz 200"

code=$(curl -s -o "$WORK/refused" -w '%{http_code}' -X POST "$URL/webhooks/account-aggregation-completed" \
  -H 'Authorization: Bearer not-the-token' -H 'Content-Type: application/json' \
  --data @deploy/examples/account-aggregation-completed.json)
[ "$code" = 401 ] || fail "the webhook with a wrong token answered $code, not 401"
code=$(curl -s -o "$WORK/accepted" -w '%{http_code}' -X POST "$URL/webhooks/account-aggregation-completed" \
  -H "Authorization: Bearer $WEBHOOK_TOKEN" -H 'Content-Type: application/json' \
  --data @deploy/examples/account-aggregation-completed.json)
[ "$code" = 202 ] || fail "the webhook answered $code: $(cat "$WORK/accepted")"
RUN_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$WORK/accepted") \
  || fail "the webhook queued no run: $(cat "$WORK/accepted")"
echo "webhook 202: run $RUN_ID"
for _ in $(seq 1 300); do
  code=$(curl -s -o "$WORK/run.json" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" "$URL/runs/$RUN_ID" || true)
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || fail "run $RUN_ID did not finish (GET /runs answered $code)"
# Succeeded: no error, no group failed, and the groups missing from SCIM were created.
status=$(python3 - "$WORK/run.json" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
outcomes = collections.Counter(o["outcome"] for o in report["outcomes"])
ok = report["error"] is None and outcomes["created"] > 0 and not outcomes["failed"]
print(("succeeded" if ok else "not succeeded"), dict(outcomes), report["error"] or "")
PY
)
case $status in succeeded*) ;; *) fail "run $RUN_ID: $status" ;; esac
echo "run $RUN_ID $status"

curl -fsS "$URL/metrics" >"$WORK/metrics" || fail "/metrics"
grep -q '^groupsync_runs_total{.*trigger="webhook".*outcome="succeeded".*} 1' "$WORK/metrics" \
  || grep -q '^groupsync_runs_total{.*outcome="succeeded".*trigger="webhook".*} 1' "$WORK/metrics" \
  || fail "/metrics does not count the webhook's run: $(grep groupsync_runs_total "$WORK/metrics")"
echo "/metrics counts the run"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/")
[ "$code" = 401 ] || fail "the dashboard without the admin token answered $code, not 401"
code=$(curl -s -o "$WORK/dashboard.html" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" "$URL/")
[ "$code" = 200 ] || fail "the dashboard with the admin token answered $code"
grep -q "$RUN_ID" "$WORK/dashboard.html" || fail "the dashboard does not list run $RUN_ID"
echo "dashboard: 401 without the admin token, 200 with it, lists the run"

pm logs "$SERVE" >"$WORK/serve.log" 2>&1
grep -q 'run finished' "$WORK/serve.log" || fail "the container's log has no 'run finished'"
if grep -q $'\x1b' "$WORK/serve.log"; then
  fail "the container's log carries ANSI escape codes: $(grep -m1 $'\x1b' "$WORK/serve.log" | cat -v)"
fi
echo "podman logs: $(wc -l <"$WORK/serve.log") lines, no ANSI escape codes"

grace=$(sed -n 's/^shutdown_grace_secs *= *//p' "$WORK/groupsync.toml")
grace=${grace:-30}
started=$(date +%s)
pm stop -t $((grace + 10)) "$SERVE" >/dev/null
took=$(( $(date +%s) - started ))
exit_code=$(pm inspect -f '{{.State.ExitCode}}' "$SERVE")
[ "$exit_code" = 0 ] || fail "serve exited $exit_code on SIGTERM"
[ "$took" -le "$grace" ] || fail "serve took $took s to stop (grace period $grace s)"
pm logs "$SERVE" 2>&1 | grep -q 'groupsync serve stopped' || fail "no 'groupsync serve stopped' in the log"
echo "SIGTERM: stopped in $took s (grace period $grace s), exit 0"

echo "--- executions list, in a new container on the same volume"
pm run --rm --name "groupsync-test-list-$TAG" "${run_args[@]}" "$IMAGE" executions list \
  >"$WORK/executions" 2>&1 || { cat "$WORK/executions" >&2; fail "executions list"; }
grep -q "$RUN_ID" "$WORK/executions" || { cat "$WORK/executions" >&2; fail "run $RUN_ID is not in the store"; }
cat "$WORK/executions"

echo "--- run (the CronJob's form)"
pm run --rm --name "groupsync-test-run-$TAG" "${run_args[@]}" "$IMAGE" run \
  >"$WORK/cron.out" 2>"$WORK/cron.log" || { cat "$WORK/cron.out" "$WORK/cron.log" >&2; fail "groupsync run exited non-zero"; }
head -3 "$WORK/cron.out"
if grep -q $'\x1b' "$WORK/cron.log"; then fail "the run's log carries ANSI escape codes"; fi

echo "container test passed"
