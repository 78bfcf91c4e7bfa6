#!/usr/bin/env bash
# Runs each `shoal bench` workload and its Erlang twin (shoal_beam.erl) side by side on
# this machine, Erlang with as many schedulers as Shoal has workers, and prints the
# figures and the Shoal/BEAM ratio of each.
#
#   bash benches/beam/compare.sh [--workers N] [--quick] [WORKLOAD ...]
#
# Workloads: fair wake spawn idle ring pingpong skynet (default: all). Without `erl`
# (apt-get install erlang-base) it says so and runs the Shoal side alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
workers=2
quick=0
workloads=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) workloads+=("$1"); shift ;;
  esac
done
[ ${#workloads[@]} -gt 0 ] || workloads=(fair wake spawn idle ring pingpong skynet)
case "$workers" in
  ''|*[!0-9]*|0) echo "--workers needs a positive number" >&2; exit 2 ;;
esac
for w in "${workloads[@]}"; do
  case "$w" in
    fair|wake|spawn|idle|ring|pingpong|skynet) ;;
    *) echo "unknown workload: $w (fair wake spawn idle ring pingpong skynet)" >&2; exit 2 ;;
  esac
done

# Sizes: the defaults of `shoal bench`, or small ones with --quick.
if [ "$quick" = 1 ]; then
  fair=(100 1 1); wake=(100 1); spawn=(20000); idle=(2000); ring=(100 100); pingpong=(20000); skynet=(4 20000)
else
  fair=(1000 3 1); wake=(1000 3); spawn=(100000); idle=(10000); ring=(1000 100); pingpong=(100000); skynet=(6 1200000)
fi

shoal_args() {
  case "$1" in
    fair) echo "--procs ${fair[0]} --secs ${fair[1]} --warmup-secs ${fair[2]}" ;;
    wake) echo "--procs ${wake[0]} --secs ${wake[1]}" ;;
    spawn) echo "--procs ${spawn[0]}" ;;
    idle) echo "--procs ${idle[0]}" ;;
    ring) echo "--procs ${ring[0]} --rounds ${ring[1]}" ;;
    pingpong) echo "--rounds ${pingpong[0]}" ;;
    # Capacity for every node to be a process (10^6 leaves: 1,111,111 nodes), as in
    # Erlang; as root, shoal bench raises vm.max_map_count for the run, and otherwise
    # the nodes past the mapping budget are walked by their parents.
    skynet) echo "--depth ${skynet[0]} --procs ${skynet[1]}" ;;
  esac
}
beam_args() {
  case "$1" in
    fair) echo "${fair[*]}" ;; wake) echo "${wake[*]}" ;; spawn) echo "${spawn[*]}" ;;
    idle) echo "${idle[*]}" ;; ring) echo "${ring[*]}" ;; pingpong) echo "${pingpong[*]}" ;;
    skynet) echo "${skynet[0]}" ;;
  esac
}

(cd "$root" && cargo build --profile dist -q -p shoal-cli)
shoal="$root/target/dist/shoal"

have_erl=1
if ! command -v erl >/dev/null || ! command -v erlc >/dev/null; then
  have_erl=0
  echo "erl not found: install Erlang/OTP (apt-get install erlang-base) for the BEAM side." >&2
  echo "Running the Shoal side alone." >&2
fi
ebin="$(mktemp -d)"
trap 'rm -rf "$ebin"' EXIT
if [ "$have_erl" = 1 ]; then
  erlc -o "$ebin" "$here/shoal_beam.erl"
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
if [ "$have_erl" = 1 ]; then
  echo "erlang: OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().'), +S $workers:$workers"
fi
echo "shoal: $("$shoal" --version), --workers $workers"
echo

results="$(mktemp)"
trap 'rm -rf "$ebin" "$results"' EXIT
for w in "${workloads[@]}"; do
  # A side that fails is reported and shown as "-"; the other workloads still run.
  # shellcheck disable=SC2046
  if ! s="$("$shoal" bench "$w" --workers "$workers" --json $(shoal_args "$w"))"; then
    echo "shoal bench $w failed" >&2
    s="{}"
  fi
  b="{}"
  if [ "$have_erl" = 1 ]; then
    # +P: skynet has 1.1 million processes alive at once, past the default limit.
    # shellcheck disable=SC2046
    if ! b="$(erl +S "$workers:$workers" +P 4000000 -noshell -pa "$ebin" \
          -s shoal_beam main "$w" $(beam_args "$w") -s init stop | tail -n 1)"; then
      echo "erlang $w failed" >&2
      b="{}"
    fi
  fi
  printf '%s\t%s\t%s\n' "$w" "$s" "$b" >> "$results"
done

python3 - "$results" <<'PY'
import json, sys
# (shoal key, beam key, label, better)
METRICS = {
    "fair": [("jain_fuel", "jain_reductions", "Jain (fuel / reductions)", "higher"),
             ("min_share", "min_share", "min share", "higher")],
    "wake": [("p50_us", "p50_us", "p50 lateness (us)", "lower"),
             ("p99_us", "p99_us", "p99 lateness (us)", "lower"),
             ("max_us", "max_us", "max lateness (us)", "lower")],
    "spawn": [("spawns_per_s", "spawns_per_s", "spawns/s", "higher")],
    "idle": [("rss_bytes_per_proc", "rss_bytes_per_proc", "RSS bytes/process", "lower")],
    "ring": [("msgs_per_s", "msgs_per_s", "messages/s", "higher")],
    "pingpong": [("roundtrip_ns", "roundtrip_ns", "round trip (ns)", "lower")],
    "skynet": [("elapsed_s", "elapsed_s", "elapsed (s)", "lower")],
}
def fmt(x):
    if x is None: return "-"
    return f"{x:.4f}" if abs(x) < 10 else f"{x:,.0f}"
print(f"{'workload':<9} {'metric':<26} {'shoal':>14} {'beam':>14} {'shoal/beam':>10}  better")
for line in open(sys.argv[1]):
    w, s, b = line.rstrip("\n").split("\t")
    try:
        s, b = json.loads(s or "{}"), json.loads(b or "{}")
    except ValueError as e:
        print(f"{w:<9} (unreadable JSON: {e})")
        continue
    for sk, bk, label, better in METRICS.get(w, []):
        sv, bv = s.get(sk), b.get(bk)
        ratio = f"{sv / bv:.2f}" if sv is not None and bv else "-"
        print(f"{w:<9} {label:<26} {fmt(sv):>14} {fmt(bv):>14} {ratio:>10}  {better} is better")
        for side, obj, key in (("shoal", s, sk), ("beam", b, bk)):
            if obj and key not in obj:
                print(f"  note: the {side} JSON has no '{key}'", file=sys.stderr)
    if w == "idle" and "erlang_memory_bytes_per_proc" in b:
        print(f"{'':<9} {'(beam erlang:memory/proc)':<26} {'':>14} "
              f"{fmt(b['erlang_memory_bytes_per_proc']):>14}")
    if w == "skynet":
        if "spawned" in s:
            print(f"{'':<9} {'(shoal nodes as processes)':<26} {s['spawned']:>14,} {'all':>14}")
        if "leaves" in s and "sum" in b:  # Shoal checks its own sum; check Erlang's here
            n = s["leaves"]
            ok = "ok" if b["sum"] == n * (n - 1) // 2 else "WRONG"
            print(f"{'':<9} {'(sum = n(n-1)/2)':<26} {'ok':>14} {ok:>14}")
PY
