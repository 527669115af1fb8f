#!/usr/bin/env bash
# What one forwarded packet costs once the visits run, in callgrind's cache simulation.
#
# The in-process bench (benches/forward.rs, profiling build) runs twice under callgrind,
# once with PACKETS and once with 2 x PACKETS timed video packets (and a quarter as many
# audio). Joining the visits, the DTLS handshakes and the warm-up are the same in both runs,
# so the difference between the two, divided by the packets forwarded in between, is the
# steady state alone. (A single run's totals are mostly the joins: with 50 visits and 6000
# packets, 36k instructions and 214 last-level misses per packet, against 27k and 166 in the
# steady state.)
#
# Prints instructions, first-level and last-level data misses per packet, then the functions
# with the most last-level misses (their own cost, not their callees'). Only the driver's
# work is counted (the bench's `Sfu::receive` and `Sfu::tick`), not the synthetic clients'.
# valgrind does not run AVX-512 code: aws-lc takes its AVX2 path under it, so the AES-GCM
# lines below are not those of a native run on a CPU with AVX-512.
#
# Usage: loadtest/steady_profile.sh [VISITS (50)] [PACKETS (6000)] [TOP (30)]
# Environment: CARGO_TARGET_DIR; LL (bytes, default 1048576, a 1 MiB last-level cache: the
# L2 per core of the 2-core machine measured in README.md) and OUT (where the callgrind
# files go, default a new temporary directory). The bench is built first if needed.
set -euo pipefail

visits=${1:-50}
packets=${2:-6000}
top=${3:-30}
ll=${LL:-1048576}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "steady_profile.sh: needs valgrind" >&2; exit 1; }
command -v callgrind_annotate >/dev/null || { echo "steady_profile.sh: needs callgrind_annotate" >&2; exit 1; }

cd "$root"
echo "== the bench (profiling profile; built if needed)"
bench=$(cargo bench --profile profiling --bench forward --no-run 2>&1 |
    sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[[ -x $bench ]] || { echo "steady_profile.sh: no bench executable" >&2; exit 1; }

run() {
    CONFER_BENCH_WARMUP=400 CONFER_BENCH_VISITS=$visits CONFER_BENCH_PATH=fast \
        CONFER_BENCH_PACKETS=$1 valgrind --tool=callgrind --cache-sim=yes \
        --D1=32768,8,64 --LL="$ll",16,64 --I1=32768,8,64 --collect-atstart=no \
        --toggle-collect='*bench_support*Sfu*receive*' --toggle-collect='*bench_support*Sfu*tick*' \
        --callgrind-out-file="$out/cg-$1.out" "$bench" --bench >"$out/cg-$1.log" 2>&1
}
echo "== callgrind, $visits visit(s), $packets and $((2 * packets)) packets (files in $out)"
run "$packets" &
run $((2 * packets)) &
wait

python3 - "$out/cg-$packets" "$out/cg-$((2 * packets))" "$top" <<'PY'
import re, subprocess, sys, collections

def opened(prefix):
    m = re.search(r'fast path: (\d+) packets opened', open(prefix + '.log').read())
    if not m:
        sys.exit(f'steady_profile.sh: no packet count in {prefix}.log')
    return int(m.group(1))

def costs(prefix):
    """Self cost per function, and the program totals, from callgrind_annotate."""
    text = subprocess.run(['callgrind_annotate', '--auto=no', '--threshold=100', prefix + '.out'],
                          capture_output=True, text=True, check=True).stdout
    events, totals, funcs, table = None, None, collections.defaultdict(lambda: None), False
    row = re.compile(r'^((?:\s*(?:[\d,]+(?: \([ \d.]+%\))?|\.))+)\s+(\S.*)$')
    for line in text.split('\n'):
        if line.startswith('Events shown:'):
            events = line.split(':', 1)[1].split()
        m = row.match(line)
        if not m or events is None:
            table = table or 'file:function' in line
            continue
        vals = [int(a.replace(',', '')) if a else 0
                for a, _ in re.findall(r'([\d,]+)(?: \([ \d.]+%\))?|(\.)', m.group(1))]
        if len(vals) != len(events):
            continue
        name = m.group(2)
        if name.startswith('PROGRAM TOTALS'):
            totals = vals
            continue
        if not table:
            continue
        fn = re.sub(r' \[[^\]]*\]$', '', name)
        fn = re.sub(r'^.*?\.(?:rs|S|c|h|s):', '', fn)
        old = funcs[fn] or [0] * len(events)
        funcs[fn] = [a + b for a, b in zip(old, vals)]
    return events, totals, funcs

a, b, top = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = opened(b) - opened(a)
ev, ta, fa = costs(a)
_, tb, fb = costs(b)
per = {k: (y - x) / n for k, x, y in zip(ev, ta, tb)}
print(f"steady state, per packet forwarded ({n} packets between the two runs):")
print(f"  instructions {per['Ir']:.0f}, data reads {per['Dr']:.0f}, writes {per['Dw']:.0f}")
print(f"  first-level data misses {per['D1mr'] + per['D1mw']:.1f}, "
      f"last-level {per['DLmr'] + per['DLmw']:.1f} (read {per['DLmr']:.1f}, write {per['DLmw']:.1f})")
i_ir, i_r, i_w = ev.index('Ir'), ev.index('DLmr'), ev.index('DLmw')
rows = []
for k in set(fa) | set(fb):
    va = fa.get(k) or [0] * len(ev)
    vb = fb.get(k) or [0] * len(ev)
    d = [(y - x) / n for x, y in zip(va, vb)]
    rows.append((d[i_r] + d[i_w], d[i_r], d[i_w], d[i_ir], k))
rows.sort(reverse=True)
print(f"{'LL misses':>10} {'read':>6} {'write':>6} {'instr':>7}  function (own cost)")
for r in rows[:top]:
    print(f"{r[0]:10.2f} {r[1]:6.2f} {r[2]:6.2f} {r[3]:7.0f}  {r[4][-110:]}")
PY
