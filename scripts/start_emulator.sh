#!/usr/bin/env bash
# Start the emulator with the demo world in the background, on free ports, and
# wait until it listens. Usage: scripts/start_emulator.sh STATE_DIR [WORLD]
# It writes STATE_DIR/state.json (endpoints, CA bundle, control URL and token,
# pid) and STATE_DIR/emulator.log; scripts/stop_emulator.sh STATE_DIR ends it.
set -euo pipefail

state_dir=${1:?usage: start_emulator.sh STATE_DIR [WORLD]}
world=${2:-demo}
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}

mkdir -p "$state_dir"
state_dir=$(cd "$state_dir" && pwd)
state_file=$state_dir/state.json
rm -f "$state_file"

# setsid: the emulator gets its own process group, so stopping it never
# touches the caller's, and a Ctrl-C in the terminal reaches it only via the trap.
PYTHONPATH=$root/tests/emulator${PYTHONPATH:+:$PYTHONPATH} \
  setsid "$python" -m csp_emulator serve --world "$world" \
    --state-file "$state_file" --state-dir "$state_dir" \
    >"$state_dir/emulator.log" 2>&1 </dev/null &
echo $! >"$state_dir/emulator.pid"

# The state file appears once all listeners accept connections.
for _ in $(seq 1 600); do
  [ -s "$state_file" ] && exit 0
  if ! kill -0 "$(cat "$state_dir/emulator.pid")" 2>/dev/null; then
    echo "emulator exited before it listened; its log:" >&2
    cat "$state_dir/emulator.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "emulator did not write $state_file within 60 s; its log:" >&2
cat "$state_dir/emulator.log" >&2
exit 1
