#!/usr/bin/env bash
# Stop an emulator started by scripts/start_emulator.sh STATE_DIR (idempotent).
set -uo pipefail

state_dir=${1:?usage: stop_emulator.sh STATE_DIR}
pid_file=$state_dir/emulator.pid
[ -f "$pid_file" ] || exit 0
pid=$(cat "$pid_file")
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
fi
rm -f "$pid_file"
exit 0
