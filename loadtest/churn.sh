#!/usr/bin/env bash
# Memory after visits end: does confer give it back?
#
#   loadtest/churn.sh [VISITS] [ROUNDS]        defaults: 500 visits, 3 rounds
#
# Starts one confer (release build, demo data, pinned to core 0) and reads its resident
# memory (VmRSS) when idle: cold, and after WARMUP (default 2) visits have come and gone, the
# idle the goal is taken against. Then, ROUNDS times, the load generator (core 1) joins VISITS
# visits with media, measures for STEADY_SECS (default 3) and leaves them all; after
# SETTLE_SECS (default 91) the server's RSS is read again. Prints idle, per-round peak
# (during the visits) and after-round RSS, and each after-round RSS relative to both idles.
# The goal (R-REMOTE-2 capacity planning): after visits end, RSS within 10 % of idle.
#
# Environment: PROFILE (default release), BUILD (default 1; 0 uses built binaries),
# PORT_BASE (default 29443). Only loopback addresses; everything started here stops on exit.
set -euo pipefail

VISITS=${1:-500}
ROUNDS=${2:-3}
STEADY_SECS=${STEADY_SECS:-3}
# 91 s: the server trims its allocator for a minute after departures pause (10 s looks,
# memory::QUIET_TRIMS), so what it gives back is back by then. At least 31 s: the load
# generator signs in with a TOTP code, and a code is good once.
SETTLE_SECS=${SETTLE_SECS:-91}
PORT_BASE=${PORT_BASE:-29443}
PROFILE=${PROFILE:-release}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d /tmp/confer-churn.XXXXXX)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if [[ "${BUILD:-1}" == "1" ]]; then
    echo "== building $PROFILE binaries"
    (cd "$root" && nice -n 10 cargo build --profile "$PROFILE" -p confer -p confer-loadtest -q)
fi
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
confer_bin="$target_dir/$PROFILE/confer"
loadtest_bin="$target_dir/$PROFILE/confer-loadtest"

http=127.0.0.1:$PORT_BASE
media=127.0.0.1:$((PORT_BASE + 1))
admin=127.0.0.1:$((PORT_BASE + 2))
dir=$work/server
# Every visit's two signalling connections come from 127.0.0.1: the per-address limit of the
# public listener (64, for a law firm behind one address) is raised for this run only.
printf '[http.connections]\nmax_per_ip = 4096\n' >"$work/confer.toml"
CONFER_MEDIA__WORKERS=1 taskset -c 0 "$confer_bin" serve --config "$work/confer.toml" --demo --data-dir "$dir" \
    --http-addr "$http" --media-addr "$media" --admin-addr "$admin" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    [[ -s "$dir/demo-credentials.txt" ]] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT_BASE") 2>/dev/null && break
    sleep 0.1
done
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
# Resident memory by kind: anonymous (heap, stacks) and file-backed (the program's code and
# data pages as they are first run: not memory a visit holds, and the kernel may drop them).
rss_parts() { awk '/^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} END {printf "anon %d + file %d KiB", a, f}' "/proc/$server_pid/status"; }
# One round of N visits with media, left at once.
round_of() {
    local n=$1 out=$2
    taskset -c 1 "$loadtest_bin" --quiet --http-addr "$http" --admin-addr "$admin" \
        --data-dir "$dir" --server-pid "$server_pid" --json "$out" \
        --scenario steady --visits "$n" --duration "$STEADY_SECS" >"$out.txt" 2>&1 \
        || { echo "round failed: see $out.txt" >&2; tail -5 "$out.txt" >&2; exit 1; }
    sleep "$SETTLE_SECS"
}
sleep 3
cold=$(rss_kib)
echo "== idle, cold (nothing run yet): ${cold} KiB ($(rss_parts))"
# "Idle" is a server that has held visits and has none now: WARMUP visits (default 2) first,
# so that what the first visit ever pages in (the media path's code, the database's pages)
# is counted in idle, and the rounds measure what visits leave behind.
WARMUP=${WARMUP:-2}
if [[ "$WARMUP" -gt 0 ]]; then
    round_of "$WARMUP" "$work/warmup.json"
fi
idle=$(rss_kib)
echo "== idle after $WARMUP warm-up visits: ${idle} KiB ($(rss_parts))"
for round in $(seq 1 "$ROUNDS"); do
    out=$work/round-$round.json
    round_of "$VISITS" "$out"
    after=$(rss_kib)
    python3 - "$out" "$idle" "$after" "$round" "$cold" "$(rss_parts)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); idle = int(sys.argv[2]); after = int(sys.argv[3])
cold = int(sys.argv[5])
peak = (r.get("server_rss_bytes") or 0) // 1024
per = r.get("server_rss_bytes_per_visit")
print(f"round {sys.argv[4]}: {r['visits']} visits, during {peak} KiB "
      f"({'-' if per is None else round(per / 1024)} KiB/visit), after {after} KiB "
      f"({sys.argv[6]}) = {after / idle:.2f} x idle ({after / cold:.2f} x cold idle)")
PY
done
echo "   server log and reports: $work"
