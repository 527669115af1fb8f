#!/usr/bin/env bash
# Load-test confer and Janus on this machine, side by side.
#
#   loadtest/compare.sh [ROUNDS] [VISITS]        defaults: 3 rounds, 50 visits
#
# Each round starts a fresh server pinned to core 0 (`taskset -c 0`) and runs the load
# generator pinned to core 1: a `steady` run of VISITS visits, then a `ramp` for the knee.
# Rounds alternate targets (A B A B ...). Prints every run's figures, then the medians and
# the ratios of server_cpu_us_per_packet and knee_visits.
#
# Janus (Debian's `janus`, installed with apt when missing; VideoCall plugin) gathers no
# loopback candidates, so each Janus run happens inside a network namespace made here
# (`unshare -n`): 127.0.0.2/32 on a veth device, Janus and the load generator both inside,
# everything gone when the run ends. SKIP_JANUS=1 runs confer only.
#
# Environment: PROFILE (default release; see the build step); NICE (default -10) raises both processes' priority so a build running on the
# same machine does not starve them (root only; set NICE=0 to skip); PORT_BASE (default
# 28443); STEADY_SECS (default 15); RAMP_STEP (default 10); RAMP_STEP_SECS (default 5);
# RAMP_MAX (default 300); RAMP=0 skips the ramps (steady runs only); SERVER_CORES (default 0)
# the cores confer is pinned to, as taskset takes them ("0", "0,1"), with one media worker per
# core (`[media] workers`, WORKERS overrides); LOAD_CORES (default 1) the load generator's; GENERATOR (default
# str0m) the load generator's media path (`--generator str0m|fast-tx|fast`, loadtest/README.md);
# TICK_US (default 0) its `--tick-us`; FAST_PATH (default true) the server's media fast path
# (`[media] fast_path`; false: str0m carries every packet, for an A/B of the two paths).
#
# Only loopback addresses are used. Everything started here is stopped on exit.
set -euo pipefail

# With autogroup scheduling (Linux default on desktops and here), nice only orders processes
# inside one session: a pinned server still shares its core fairly with every other session's
# work (a build, a browser) and stalls for tens of milliseconds. So the comparison runs in a
# session of its own (`setsid`) whose autogroup gets the NICE weight (root only; NICE=0 skips).
if [[ "${1:-}" != "__janus_in_netns" && -z "${LOADTEST_COMPARE_SESSION:-}" && "${NICE:--10}" != "0" \
      && -w /proc/self/autogroup ]] && command -v setsid >/dev/null; then
    export LOADTEST_COMPARE_SESSION=1
    exec setsid --wait bash "$0" "$@"
fi
if [[ -n "${LOADTEST_COMPARE_SESSION:-}" && "${1:-}" != "__janus_in_netns" ]]; then
    echo "${NICE:--10}" >/proc/$$/autogroup 2>/dev/null || true
fi

# Internal: one Janus run inside a fresh network namespace (see run_janus below).
if [[ "${1:-}" == "__janus_in_netns" ]]; then
    out=$2
    shift 2
    ip link set lo up
    ip link add lt0 type veth peer name lt1
    ip link set lt1 up
    ip addr add 127.0.0.2/32 dev lt0
    ip link set lt0 up
    $NICE_CMD taskset -c 0 janus -F "$JANUS_CFG" -E lt0 -o -d 3 >"$out.janus.log" 2>&1 &
    jp=$!
    trap 'kill $jp 2>/dev/null; wait $jp 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        (exec 3<>/dev/tcp/127.0.0.2/8088) 2>/dev/null && break
        sleep 0.1
    done
    $NICE_CMD taskset -c 1 "$LOADTEST_BIN" --quiet --target janus --janus-url http://127.0.0.2:8088/janus \
        --bind-ip 127.0.0.2 --server-pid "$jp" --generator "${GENERATOR:-str0m}" --tick-us "${TICK_US:-0}" --json "$out" "$@" >"$out.txt" 2>&1 \
        || echo "   janus run failed: see $out.txt" >&2
    exit 0
fi

ROUNDS=${1:-3}
VISITS=${2:-50}
NICE=${NICE:--10}
PORT_BASE=${PORT_BASE:-28443}
STEADY_SECS=${STEADY_SECS:-15}
RAMP_STEP=${RAMP_STEP:-10}
RAMP_MAX=${RAMP_MAX:-300}
RAMP_STEP_SECS=${RAMP_STEP_SECS:-5}
RAMP=${RAMP:-1}
SERVER_CORES=${SERVER_CORES:-0}
LOAD_CORES=${LOAD_CORES:-1}
GENERATOR=${GENERATOR:-str0m}
TICK_US=${TICK_US:-0}
# One media worker per server core (WORKERS overrides).
server_workers=${WORKERS:-}
[[ -n "$server_workers" ]] || server_workers=$(python3 -c 'import sys; n=0
for part in sys.argv[1].split(","):
    a, _, b = part.partition("-"); n += int(b or a) - int(a) + 1
print(n)' "$SERVER_CORES")

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# OUT=DIR keeps every report there (default: a fresh directory under /tmp).
if [[ -n "${OUT:-}" ]]; then work=$(mkdir -p "$OUT" && cd "$OUT" && pwd); else work=$(mktemp -d /tmp/confer-compare.XXXXXX); fi
server_pid=""

cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if (( $(nproc) < 2 )); then
    echo "compare.sh needs two cores (server on one, load on the other)" >&2
    exit 1
fi
for tool in taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

nice_cmd=()
if [[ "$NICE" != "0" ]]; then
    nice_cmd=(nice -n "$NICE")
fi

# The build runs at low priority (other work on this machine may be compiling too);
# BUILD=0 uses the binaries already built. PROFILE (default release) picks the cargo profile
# (`profiling` builds faster, for trying changes; figures to report come from release).
PROFILE=${PROFILE:-release}
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

start_confer() {
    local dir=$1
    rm -rf "$dir"
    # Every visit's two signalling connections come from 127.0.0.1: the per-address limit of
    # the public listener (64, for a law firm behind one address) is raised for this run only
    # (without it, visits past ~30 fail to join and the run measures fewer than it says).
    printf '[http.connections]\nmax_per_ip = 4096\n' >"$dir.toml"
    CONFER_MEDIA__WORKERS=$server_workers CONFER_MEDIA__FAST_PATH=${FAST_PATH:-true} "${nice_cmd[@]}" taskset -c "$SERVER_CORES" "$confer_bin" serve --config "$dir.toml" --demo --data-dir "$dir" \
        --http-addr "$http" --media-addr "$media" --admin-addr "$admin" >"$dir.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        [[ -s "$dir/demo-credentials.txt" ]] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT_BASE") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "confer did not start; see $dir.log" >&2
    exit 1
}

stop_server() {
    cleanup
    server_pid=""
}

load() {
    local dir=$1 out=$2
    shift 2
    "${nice_cmd[@]}" taskset -c "$LOAD_CORES" "$loadtest_bin" --quiet --http-addr "$http" --admin-addr "$admin" \
        --data-dir "$dir" --server-pid "$server_pid" --generator "$GENERATOR" --tick-us "$TICK_US" --json "$out" "$@" >"$out.txt" 2>&1 \
        || echo "   confer run failed: see $out.txt" >&2
}

run_confer() {
    local round=$1
    local dir=$work/confer-$round
    start_confer "$dir-steady"
    load "$dir-steady" "$work/confer-steady-$round.json" --scenario steady --visits "$VISITS" --duration "$STEADY_SECS"
    stop_server
    echo "   confer round $round: steady $(summary "$work/confer-steady-$round.json")"
    [[ "$RAMP" == "1" ]] || return 0
    start_confer "$dir-ramp"
    load "$dir-ramp" "$work/confer-ramp-$round.json" --scenario ramp --step "$RAMP_STEP" \
        --step-secs "$RAMP_STEP_SECS" --max-visits "$RAMP_MAX"
    stop_server
    echo "   confer round $round: knee $(knee "$work/confer-ramp-$round.json")"
}

setup_janus() {
    [[ "${SKIP_JANUS:-0}" == "1" ]] && return 1
    if ! command -v janus >/dev/null; then
        echo "== installing janus (apt)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends janus >/dev/null \
            || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends janus >/dev/null; } \
            || return 1
    fi
    command -v unshare >/dev/null && command -v ip >/dev/null || return 1
    # Janus's own config, with only the HTTP transport's defaults and the VideoCall plugin.
    JANUS_CFG=$work/janus-cfg
    cp -r /etc/janus "$JANUS_CFG"
    local others
    others=$(ls /usr/lib/*/janus/plugins/ | grep -E '^libjanus_[a-z]+\.so$' | grep -v videocall | paste -sd, -)
    sed -i "s|^\t#disable = \"libjanus_voicemail.so,libjanus_recordplay.so\"|\tdisable = \"$others\"|" "$JANUS_CFG/janus.jcfg"
    export JANUS_CFG
}

run_janus() {
    local round=$1
    export LOADTEST_BIN=$loadtest_bin NICE_CMD="${nice_cmd[*]}" GENERATOR TICK_US
    unshare -n bash "$here/compare.sh" __janus_in_netns "$work/janus-steady-$round.json" \
        --scenario steady --visits "$VISITS" --duration "$STEADY_SECS"
    echo "   janus  round $round: steady $(summary "$work/janus-steady-$round.json")"
    [[ "$RAMP" == "1" ]] || return 0
    unshare -n bash "$here/compare.sh" __janus_in_netns "$work/janus-ramp-$round.json" \
        --scenario ramp --step "$RAMP_STEP" --step-secs "$RAMP_STEP_SECS" --max-visits "$RAMP_MAX"
    echo "   janus  round $round: knee $(knee "$work/janus-ramp-$round.json")"
}

summary() {
    [[ -s "$1" ]] || { echo "(no report: the run failed, see ${1}.txt)"; return 0; }
    python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = r["server_cpu_us_per_packet"]
gen = r.get("loadgen_cpu_us_per_packet")
print(f'{r["visits"]} visits, loss {r["loss_pct"]:.3f} %, p99 {r["one_way_ms"]["p99"]:.2f} ms, '
      f'{cpu if cpu is None else round(cpu, 2)} µs/packet (generator {gen if gen is None else round(gen, 2)}), '
      f'join failures {r["join_failures"]}')
EOF
}

knee() {
    [[ -s "$1" ]] || { echo "(no report: the run failed, see ${1}.txt)"; return 0; }
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["knee_visits"], "" if r["knee_reached"] else "(limits not reached)", "join failures", r["join_failures"])' "$1"
}

with_janus=0
if setup_janus; then with_janus=1; else
    echo "== Janus not available (or SKIP_JANUS=1): running confer only"
fi

for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round/$ROUNDS"
    run_confer "$round"
    if (( with_janus )); then run_janus "$round"; fi
done

echo
echo "== medians over $ROUNDS rounds"
python3 - "$work" "$ROUNDS" "$with_janus" <<'EOF'
import json, statistics, sys
work, rounds, with_janus = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def med(target, scenario, key):
    vals = []
    for i in range(1, rounds + 1):
        try:
            v = json.load(open(f"{work}/{target}-{scenario}-{i}.json"))
            for k in key.split("."):
                v = v[k]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            continue
        if v is not None:
            vals.append(v)
    return statistics.median(vals) if vals else None
targets = ["confer"] + (["janus"] if with_janus else [])
for t in targets:
    print(f"  {t:7} server_cpu_us_per_packet (steady) = {med(t, 'steady', 'server_cpu_us_per_packet')}")
    print(f"  {t:7} loss_pct (steady)                 = {med(t, 'steady', 'loss_pct')}")
    print(f"  {t:7} one_way_ms.p99 (steady)           = {med(t, 'steady', 'one_way_ms.p99')}")
    print(f"  {t:7} join_ms.p50 (steady)              = {med(t, 'steady', 'join_ms.p50')}")
    print(f"  {t:7} server_rss_bytes_per_visit        = {med(t, 'steady', 'server_rss_bytes_per_visit')}")
    print(f"  {t:7} loadgen_cpu_s (steady)            = {med(t, 'steady', 'loadgen_cpu_s')}")
    print(f"  {t:7} knee_visits (ramp)                = {med(t, 'ramp', 'knee_visits')}")
if with_janus:
    c, j = med("confer", "steady", "server_cpu_us_per_packet"), med("janus", "steady", "server_cpu_us_per_packet")
    kc, kj = med("confer", "ramp", "knee_visits"), med("janus", "ramp", "knee_visits")
    print(f"  ratio janus/confer server_cpu_us_per_packet = {j / c if c and j else None}")
    print(f"  ratio confer/janus knee_visits              = {kc / kj if kc and kj else None}")
EOF
echo "   reports: $work"
