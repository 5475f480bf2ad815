#!/usr/bin/env bash
# Start, check or stop a Ray head node on 127.0.0.1, for submitting Raylight jobs locally
# (`raylight submit SPEC --address http://127.0.0.1:8265`). The jobs tests use it.
#
#   cluster/local/head.sh start    # token auth on, dashboard (Jobs API) on 127.0.0.1 only
#   cluster/local/head.sh status
#   cluster/local/head.sh stop     # stops this head only (not `ray stop`, which kills every Ray here)
#
# Settings (environment): RAY_HEAD_PORT (GCS, 6390), RAY_DASHBOARD_PORT (8265), RAY_HEAD_CPUS (4),
# RAY_HEAD_TEMP_DIR (/tmp/rl-head-<dashboard port>), RAY (the `ray` binary; default: the project's .venv).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ray_bin=${RAY:-$root/.venv/bin/ray}
[ -x "$ray_bin" ] || ray_bin=$(command -v ray || true)
[ -n "$ray_bin" ] || { echo "error: no 'ray' binary (run 'make setup' or set RAY=...)" >&2; exit 2; }
port=${RAY_HEAD_PORT:-6390}
dashboard=${RAY_DASHBOARD_PORT:-8265}
cpus=${RAY_HEAD_CPUS:-4}
temp_dir=${RAY_HEAD_TEMP_DIR:-/tmp/rl-head-$dashboard}
url="http://127.0.0.1:$dashboard"
token_file=${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}

# Job drivers run `python -m raylight ...`: they must find the same Python as this `ray`.
export PATH="$(dirname "$ray_bin"):$PATH"
export RAY_AUTH_MODE=token

is_up() {
  # The header goes in through stdin: on the command line, `ps` would show the token.
  local token=""
  [ -f "$token_file" ] && token=$(cat "$token_file")
  printf 'Authorization: Bearer %s\n' "$token" |
    curl -fsS -o /dev/null -m 2 -H @- "$url/api/version" 2>/dev/null
}

head_pids() {
  # Every process of this head mentions its temp dir; job drivers carry its address instead.
  {
    pgrep -f -- "$temp_dir" || true
    grep -lsxz "RAY_ADDRESS=127.0.0.1:$port" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true
    # The head's own process group (see start): the dashboard and runtime-env agents and the
    # client server name neither, and left behind they keep ports (52365, 10001) the next head needs.
    [ -s "$temp_dir/pgid" ] && pgrep -g "$(cat "$temp_dir/pgid")" || true
  } | { grep -vx "$$" || true; } | sort -u
}

start() {
  if is_up; then echo "head already up: $url"; return 0; fi
  if [ ! -s "$token_file" ]; then
    "$ray_bin" get-auth-token --generate >/dev/null
  fi
  mkdir -p "$temp_dir"
  # setsid: the head's daemons get a process group of their own, recorded for `stop` (where
  # there is no setsid, e.g. macOS, `stop` finds them by temp dir and address only).
  $(command -v setsid || true) "$ray_bin" start --head --node-ip-address=127.0.0.1 --port="$port" \
    --dashboard-host=127.0.0.1 --dashboard-port="$dashboard" --include-dashboard=true \
    --num-cpus="$cpus" --temp-dir="$temp_dir" --disable-usage-stats >"$temp_dir/start.log" 2>&1 ||
    { echo "error: ray start failed; see $temp_dir/start.log" >&2; tail -5 "$temp_dir/start.log" >&2; exit 1; }
  if command -v setsid >/dev/null; then
    ps -o pgid= -p "$(pgrep -f -- "gcs_server.*$temp_dir" | head -1)" | tr -d ' ' >"$temp_dir/pgid"
  fi
  for _ in $(seq 1 120); do
    if is_up; then echo "head up: $url (GCS 127.0.0.1:$port, $cpus CPUs, token auth on)"; return 0; fi
    sleep 0.5
  done
  echo "error: the dashboard at $url did not answer within 60 s; see $temp_dir" >&2
  exit 1
}

stop() {
  local pids
  pids=$(head_pids)
  if [ -z "$pids" ]; then echo "no head running for $temp_dir"; return 0; fi
  kill $pids 2>/dev/null || true
  for _ in $(seq 1 32); do
    pids=$(head_pids)
    [ -z "$pids" ] && { echo "head stopped"; return 0; }
    sleep 0.25
  done
  kill -9 $pids 2>/dev/null || true
  echo "head stopped (forced)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if is_up; then echo "up: $url"; else echo "down: $url"; exit 1; fi ;;
  *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
