#!/usr/bin/env bash
# The server's CPU per forwarded packet with SFrame payloads (`--e2ee`, R-PRIV-1) against
# plain payloads, on this machine:
#
#   loadtest/e2ee_ab.sh [ROUNDS] [VISITS]        defaults: 2 rounds, 20 visits
#
# Each round runs both arms, in alternating order (round 1: plain then e2ee, round 2: e2ee
# then plain, ...), each a `steady` run of VISITS visits for STEADY_SECS (default 15) on a
# fresh confer pinned to core 0 with the load generator pinned to core 1, as compare.sh
# does. Prints each run and the medians of server_cpu_us_per_packet, with the load average
# next to each run (the machine may be shared). BUILD=0 uses the release binaries already
# built; OUT=DIR keeps the reports; PORT_BASE (default 29443); NICE (default -10, root only,
# 0 skips).
set -euo pipefail

if [[ -z "${LOADTEST_AB_SESSION:-}" && "${NICE:--10}" != "0" && -w /proc/self/autogroup ]] \
    && command -v setsid >/dev/null; then
    # A session of its own, so NICE weighs against other sessions' work (see compare.sh).
    export LOADTEST_AB_SESSION=1
    exec setsid --wait bash "$0" "$@"
fi
if [[ -n "${LOADTEST_AB_SESSION:-}" ]]; then
    echo "${NICE:--10}" >/proc/$$/autogroup 2>/dev/null || true
fi

ROUNDS=${1:-2}
VISITS=${2:-20}
NICE=${NICE:--10}
PORT_BASE=${PORT_BASE:-29443}
STEADY_SECS=${STEADY_SECS:-15}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
if [[ -n "${OUT:-}" ]]; then work=$(mkdir -p "$OUT" && cd "$OUT" && pwd); else work=$(mktemp -d /tmp/confer-e2ee-ab.XXXXXX); fi
# The servers' data dirs (database, dev PKI with private keys) stay out of OUT.
scratch=$(mktemp -d /tmp/confer-e2ee-ab-data.XXXXXX)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap 'cleanup; rm -rf "$scratch"' EXIT

nice_cmd=()
[[ "$NICE" != "0" ]] && nice_cmd=(nice -n "$NICE")

if [[ "${BUILD:-1}" == "1" ]]; then
    echo "== building release binaries"
    (cd "$root" && nice -n 10 cargo build --release -p confer -p confer-loadtest -q)
fi
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
confer_bin="$target_dir/release/confer"
loadtest_bin="$target_dir/release/confer-loadtest"
http=127.0.0.1:$PORT_BASE
media=127.0.0.1:$((PORT_BASE + 1))
admin=127.0.0.1:$((PORT_BASE + 2))

run() {
    local arm=$1 round=$2
    local dir=$scratch/confer-$arm-$round out=$work/steady-$arm-$round.json
    rm -rf "$dir"
    "${nice_cmd[@]}" env CONFER_MEDIA__WORKERS=1 taskset -c 0 "$confer_bin" serve --demo --data-dir "$dir" \
        --http-addr "$http" --media-addr "$media" --admin-addr "$admin" >"$dir.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        [[ -s "$dir/demo-credentials.txt" ]] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT_BASE") 2>/dev/null && break
        sleep 0.1
    done
    local extra=()
    [[ "$arm" == "e2ee" ]] && extra=(--e2ee)
    local load_before
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    "${nice_cmd[@]}" taskset -c 1 "$loadtest_bin" --quiet --http-addr "$http" --admin-addr "$admin" \
        --data-dir "$dir" --server-pid "$server_pid" --json "$out" \
        --scenario steady --visits "$VISITS" --duration "$STEADY_SECS" "${extra[@]}" >"$out.txt" 2>&1 \
        || echo "   run failed: see $out.txt" >&2
    cleanup
    server_pid=""
    python3 - "$out" "$arm" "$round" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, sys
out, arm, rnd, before, after = sys.argv[1:]
try:
    r = json.load(open(out))
except (FileNotFoundError, ValueError):
    print(f"   round {rnd} {arm:5}: no report"); sys.exit(0)
cpu = r["server_cpu_us_per_packet"]
sf = f', sframe opened {r["sframe_opened"]} failed {r["sframe_failed"]}' if r.get("e2ee") else ""
print(f'   round {rnd} {arm:5}: {cpu:.2f} µs/packet ({r["packets_forwarded"]} packets, '
      f'server {r["server_cpu_s"]:.2f} s CPU, loss {r["loss_pct"]:.3f} %, p99 {r["one_way_ms"]["p99"]:.2f} ms{sf}); '
      f'load {before} -> {after}')
EOF
}

for round in $(seq 1 "$ROUNDS"); do
    if (( round % 2 == 1 )); then run plain "$round"; run e2ee "$round"; else run e2ee "$round"; run plain "$round"; fi
done

python3 - "$work" "$ROUNDS" <<'EOF'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
med = {}
for arm in ("plain", "e2ee"):
    vals = []
    for i in range(1, rounds + 1):
        try:
            v = json.load(open(f"{work}/steady-{arm}-{i}.json"))["server_cpu_us_per_packet"]
        except (FileNotFoundError, ValueError, KeyError):
            continue
        if v is not None:
            vals.append(v)
    med[arm] = statistics.median(vals) if vals else None
    print(f"== {arm:5} median server_cpu_us_per_packet = {med[arm]} over {vals}")
if med["plain"] and med["e2ee"]:
    print(f"== e2ee / plain = {med['e2ee'] / med['plain']:.3f}")
print(f"   reports: {work}")
EOF
