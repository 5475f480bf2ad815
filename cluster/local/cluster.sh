#!/usr/bin/env bash
# A real multi-node Ray cluster on one machine: a head node (head.sh) and worker nodes that join
# it on 127.0.0.1, each a raylet of its own with its own CPUs, ports and temp dir.
#
#   cluster/local/cluster.sh start          # head + 2 worker nodes; waits until all are alive
#   cluster/local/cluster.sh status         # one line per node: id, state, CPUs
#   cluster/local/cluster.sh kill-worker 2  # SIGKILL worker node 2 (raylet, agents): a crash
#   cluster/local/cluster.sh stop           # this cluster only (not `ray stop`)
#
# Settings (environment), besides head.sh's: RAY_WORKERS (2), RAY_WORKER_CPUS (3: after one node
# dies, the other still holds a 2-worker run plus the CPU Ray Data needs to feed it),
# RAY_HEAD_CPUS (0 here: work lands on the worker nodes, the head runs drivers and controllers),
# RAY_WORKER_PORT_BASE (24000; worker node i uses base + 100*i .. base + 100*i + 99).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
ray_bin=${RAY:-$root/.venv/bin/ray}
[ -x "$ray_bin" ] || ray_bin=$(command -v ray || true)
[ -n "$ray_bin" ] || { echo "error: no 'ray' binary (run 'make setup' or set RAY=...)" >&2; exit 2; }
python_bin=$(dirname "$ray_bin")/python
export RAY_HEAD_CPUS=${RAY_HEAD_CPUS:-0}
port=${RAY_HEAD_PORT:-6390}
dashboard=${RAY_DASHBOARD_PORT:-8265}
head_temp=${RAY_HEAD_TEMP_DIR:-/tmp/rl-head-$dashboard}
export RAY_HEAD_TEMP_DIR=$head_temp
workers=${RAY_WORKERS:-2}
worker_cpus=${RAY_WORKER_CPUS:-3}
port_base=${RAY_WORKER_PORT_BASE:-24000}
token_file=${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}
export PATH="$(dirname "$ray_bin"):$PATH"
export RAY_AUTH_MODE=token

worker_dir() { echo "$head_temp-worker$1"; }

start_worker() {
  local i=$1 dir base
  dir=$(worker_dir "$i")
  base=$((port_base + 100 * i))
  mkdir -p "$dir"
  # setsid: the node's raylet, agents and workers share a process group, so `kill-worker` can
  # take the whole node down at once, as a machine that dies would.
  $(command -v setsid || true) "$ray_bin" start --address="127.0.0.1:$port" \
    --node-ip-address=127.0.0.1 --num-cpus="$worker_cpus" --temp-dir="$dir" \
    --node-manager-port="$base" --object-manager-port=$((base + 1)) \
    --dashboard-agent-listen-port=$((base + 2)) --dashboard-agent-grpc-port=$((base + 3)) \
    --metrics-export-port=$((base + 4)) --runtime-env-agent-port=$((base + 5)) \
    --min-worker-port=$((base + 10)) --max-worker-port=$((base + 99)) \
    --disable-usage-stats >"$dir/start.log" 2>&1 ||
    { echo "error: worker node $i did not start; see $dir/start.log" >&2; tail -5 "$dir/start.log" >&2; exit 1; }
  if command -v setsid >/dev/null; then
    ps -o pgid= -p "$(pgrep -f -- "raylet.*--node_manager_port=$base" | head -1)" | tr -d ' ' >"$dir/pgid"
  fi
}

nodes_json() {
  # The Jobs API's state endpoint; the token goes in through stdin, never on a command line.
  local token=""
  [ -f "$token_file" ] && token=$(cat "$token_file")
  printf 'Authorization: Bearer %s\n' "$token" |
    curl -fsS -m 5 -H @- "http://127.0.0.1:$dashboard/api/v0/nodes?limit=1000" 2>/dev/null
}

alive_nodes() {
  nodes_json | "$python_bin" -c '
import json, sys
nodes = json.load(sys.stdin)["data"]["result"]["result"]
print(sum(node["state"] == "ALIVE" for node in nodes))' 2>/dev/null || echo 0
}

status() {
  nodes_json | "$python_bin" -c '
import json, sys
nodes = json.load(sys.stdin)["data"]["result"]["result"]
for node in sorted(nodes, key=lambda n: not n["is_head_node"]):
    role = "head  " if node["is_head_node"] else "worker"
    cpus = node["resources_total"].get("CPU", 0)
    print(role, node["node_id"][:12], node["state"], f"{cpus:g} CPUs")'
}

start() {
  "$here/head.sh" start
  for i in $(seq 1 "$workers"); do
    [ -s "$(worker_dir "$i")/pgid" ] && pgrep -g "$(cat "$(worker_dir "$i")/pgid")" >/dev/null && continue
    start_worker "$i"
  done
  local want=$((workers + 1))
  for _ in $(seq 1 120); do
    if [ "$(alive_nodes)" -ge "$want" ]; then
      echo "cluster up: 1 head + $workers worker nodes ($worker_cpus CPUs each) at http://127.0.0.1:$dashboard"
      return 0
    fi
    sleep 0.5
  done
  echo "error: only $(alive_nodes) of $want nodes alive after 60 s" >&2
  exit 1
}

kill_worker() {
  local i=${1:?usage: $0 kill-worker N} dir
  dir=$(worker_dir "$i")
  if [ -s "$dir/pgid" ]; then
    kill -9 -- "-$(cat "$dir/pgid")" 2>/dev/null || true
  fi
  pkill -9 -f -- "$dir" 2>/dev/null || true
  pkill -9 -f -- "--node_manager_port=$((port_base + 100 * i))" 2>/dev/null || true
  echo "worker node $i killed"
}

stop() {
  for dir in "$head_temp"-worker*; do
    [ -d "$dir" ] || continue
    [ -s "$dir/pgid" ] && { kill -- "-$(cat "$dir/pgid")" 2>/dev/null || true; }
  done
  "$here/head.sh" stop
  sleep 1
  for dir in "$head_temp"-worker*; do
    [ -d "$dir" ] || continue
    [ -s "$dir/pgid" ] && { kill -9 -- "-$(cat "$dir/pgid")" 2>/dev/null || true; rm -f "$dir/pgid"; }
    pkill -9 -f -- "$dir" 2>/dev/null || true
  done
  echo "worker nodes stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill-worker) kill_worker "${2:-}" ;;
  *) echo "usage: $0 start|status|kill-worker N|stop" >&2; exit 2 ;;
esac
