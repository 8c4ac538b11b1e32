#!/usr/bin/env bash
# Replay throughput (MB/s, lines/s, all cores) of `tailstore replay` for nginx,
# ingress-nginx-like, JSONL and CSV renderings of the same >= 1 M requests,
# beside the I/O floor (`cat FILE > /dev/null`) and DuckDB loading the same
# file and computing per-endpoint P50/P95/P99 and error ratio; then a later
# `tailstore query` against the same DuckDB query on the loaded table.
#
# Each format is also measured in disordered renderings of the same requests,
# as real deployments write them (benches/replay/convert.py --disordered):
#   completion  stamped with the request's start second (Envoy/Istio), written in
#               completion order: time steps back by up to a request's latency
#   pods4       4 pods' logs (requests dealt round-robin), each sorted, concatenated:
#               the file's time runs from start to end four times
# Every disordered rendering must give the sorted file's answers (benches/replay/check.py:
# `replay --json` totals, per-series counts in a store, whole-range query answers);
# the script fails (exit 1) when they differ. `late` counts samples that arrived after
# their second was sealed (still counted), `rejected` lines or samples that were not.
#
#   bash benches/replay/run.sh [minutes=120] [rate=150] [renderings="completion pods4"|none]
#                                                          (needs: pip install duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-120}
rate=${2:-150}
renderings=${3:-completion pods4}
[ "$renderings" = none ] && renderings=
for r in $renderings; do
  case $r in completion | pods4) ;; *) echo "FATAL: unknown rendering $r (completion, pods4, none)" >&2; exit 2 ;; esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -c 'import duckdb' 2>/dev/null || { echo "FATAL: python duckdb missing (pip install duckdb)" >&2; exit 1; }
cargo build --release -q -p tailstore-cli
bin=${CARGO_TARGET_DIR:-target}/release/tailstore

python3 examples/gen_traffic.py --minutes "$minutes" --rate "$rate" > "$work/nginx.log"
python3 benches/replay/convert.py "$work/nginx.log" "$work" ${renderings:+--disordered}
lines=$(wc -l < "$work/nginx.log")
echo "requests: $lines"

t() { # seconds of wall time of a command, best of 3
  local best=999999
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N)
    best=$(python3 -c "print(min($best, $e - $s))")
  done
  echo "$best"
}

# The file of format $1 in rendering $2.
file_of() {
  local base=${1%%.*} ext=${1#*.}
  if [ "$2" = sorted ]; then echo "$1"; else echo "$base.$2.$ext"; fi
}
# Every rendering's timestamps lie in this window (a completion stamp is at most
# 10 s before its line's second), so whole-range answers compare exactly.
q_start=$((1764547200 - 3600))
q_end=$((1764547200 + minutes * 60 + 3600))
mismatch=0

printf '%-14s %-10s %8s %8s %11s %10s %8s %9s %9s %8s %8s %7s\n' format rendering MB cat_s tailstore_s duckdb_s ts_MB/s duck/ts vs_sorted late rejected answers
for f in nginx.log ingress.log traffic.jsonl traffic.csv; do
  case $f in
    nginx.log) fmt=nginx ;;
    ingress.log) fmt=ingress-nginx ;;
    traffic.jsonl) fmt=jsonl ;;
    traffic.csv) fmt=csv ;;
  esac
  sorted_ts=
  for r in sorted $renderings; do
    name=$(file_of "$f" "$r")
    path="$work/$name"
    mb=$(python3 -c "import os; print(round(os.path.getsize('$path') / 1e6, 1))")
    cat_s=$(t cat "$path")
    ts_s=$(t "$bin" replay --format "$fmt" --json "$path")
    duck_s=$(t python3 benches/replay/duck.py "$path" "$fmt")
    [ "$r" = sorted ] && sorted_ts=$ts_s
    # Answers: in-memory `replay --json` totals, then a store's series counts and queries.
    python3 benches/replay/check.py digest "$bin" "$fmt" "$path" "$work/st.$name" "$q_start" "$q_end" > "$work/$name.digest.json"
    rm -rf "$work/st.$name"
    answers=same
    if [ "$r" = sorted ]; then
      answers=ref
      [ "$(python3 -c "import json; print(json.load(open('$work/$name.digest.json'))['replay']['ingested'])")" = "$lines" ] || {
        echo "FATAL: $name: replay ingested a count different from the $lines requests" >&2; mismatch=1; answers=DIFFER; }
    fi
    python3 benches/replay/check.py compare "$work/$f.digest.json" "$work/$name.digest.json" "$fmt $r ($name)" ||
      { mismatch=1; answers=DIFFER; }
    read -r late rejected < <(python3 -c "import json; d=json.load(open('$work/$name.digest.json'))['replay']; print(d['late'], d['rejected'])")
    printf '%-14s %-10s %8s %8.3f %11.3f %10.3f %8.1f %9.2f %9.2f %8s %8s %7s\n' "$fmt" "$r" "$mb" "$cat_s" "$ts_s" "$duck_s" \
      "$(python3 -c "print($mb / $ts_s)")" "$(python3 -c "print($duck_s / $ts_s)")" "$(python3 -c "print($ts_s / $sorted_ts)")" \
      "$late" "$rejected" "$answers"
  done
done
if [ "$mismatch" != 0 ]; then
  echo "FATAL: a disordered rendering's replay answers differ from the sorted file's (see above)" >&2
  exit 1
fi

# Later queries: tailstore on its store, DuckDB on a loaded table.
"$bin" replay --store "$work/st" --format nginx --json "$work/nginx.log" > /dev/null
python3 benches/replay/duck.py "$work/traffic.csv" csv "$work/duck.db" > /dev/null
start=$(python3 -c "print(1764547200)")
end=$(python3 -c "print(1764547200 + $minutes * 60)")
ts_q=$(t "$bin" query --store "$work/st" --match '.*' --start "$start" --end "$end" --json)
duck_q=$(t python3 benches/replay/duck.py - query "$work/duck.db")
echo "query whole range, all series: tailstore ${ts_q}s (process incl. open), duckdb ${duck_q}s (process incl. connect)"
