#!/usr/bin/env bash
# Quick start, command 1 (as root): set everything up (system packages, build, default busybox
# rootfs), start `gardend --backend linux` in the background on /tmp/garden.sock (or reuse the
# one a previous quick start left running), run the hello example through the client in a real
# container, and leave the server running. GARDEN_SOCKET picks another socket.
set -euo pipefail
cd "$(dirname "$0")/.."

SOCKET=${GARDEN_SOCKET:-/tmp/garden.sock}
LOG=/tmp/gardend.log
PIDFILE=/tmp/gardend.pid
GARDEND="$PWD/packages/gardend/dist/bin/gardend.js"

if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart: needs root: gardend --backend linux creates namespaces, cgroups and mounts," >&2
  echo "and setup may install system packages. Run: sudo bash scripts/quickstart.sh" >&2
  exit 1
fi

bash scripts/setup.sh

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Whether a Garden server answers GET /ping on the socket.
ping_garden() {
  node -e '
    const req = require("node:http").get({ socketPath: process.argv[1], path: "/ping", timeout: 2000 }, (res) => {
      res.resume();
      process.exit(res.statusCode === 200 ? 0 : 1);
    });
    req.on("timeout", () => process.exit(1));
    req.on("error", () => process.exit(1));
  ' "$SOCKET"
}

# The pid of the gardend a previous quick start left running (per the pid file), if it is alive.
previous_gardend() {
  [ -f "$PIDFILE" ] || return 1
  local pid cmdline
  pid=$(cat "$PIDFILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmdline" == *"gardend.js --backend linux --bind-socket "* ]] || return 1
  echo "$pid"
}

wait_for_ping() {
  local pid=$1
  for _ in $(seq 1 300); do
    ping_garden && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      echo "quickstart: gardend exited; the end of $LOG:" >&2
      tail -n 20 "$LOG" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "quickstart: gardend (pid $pid) does not answer on $SOCKET after 30 s; see $LOG" >&2
  return 1
}

if pid=$(previous_gardend); then
  if [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" != *"--bind-socket $SOCKET "* ]]; then
    # A second server on the same depot would fight the first over its containers.
    echo "quickstart: the gardend of a previous quick start (pid $pid) serves another socket;" >&2
    echo "stop it first: kill $pid" >&2
    exit 1
  fi
  log "reusing gardend (pid $pid) from a previous quick start"
  wait_for_ping "$pid"
elif ping_garden; then
  echo "quickstart: another Garden server (not started by a quick start) answers on $SOCKET;" >&2
  echo "stop it, or choose another socket: GARDEN_SOCKET=/tmp/other.sock bash scripts/quickstart.sh" >&2
  exit 1
else
  log "starting gardend --backend linux on $SOCKET (log: $LOG)"
  # Its own session: the server outlives this script and the terminal (no SIGHUP, no Ctrl-C).
  setsid node "$GARDEND" --backend linux --bind-socket "$SOCKET" >>"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_for_ping "$pid"
fi

log "running examples/hello.mjs through the client in a real container"
GARDEN_SOCKET="$SOCKET" node examples/hello.mjs

log "the same server through gaol, the CLI: gaol list (empty: the example destroyed its container)"
node_modules/.bin/gaol --target "unix://$SOCKET" list

echo "gardend --backend linux is running (pid $pid, socket $SOCKET, log $LOG); stop it with: kill $pid"
echo "gaol is in node_modules/.bin: export PATH=\"$PWD/node_modules/.bin:\$PATH\", then e.g. gaol shell \$(gaol create)"
[ "$SOCKET" = /tmp/garden.sock ] || echo "(and export GAOL_TARGET=unix://$SOCKET: gaol's default is /tmp/garden.sock)"
