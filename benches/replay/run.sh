#!/usr/bin/env bash
# Replay throughput (MB/s, lines/s, all cores) of `tailstore replay` for nginx,
# ingress-nginx-like, JSONL and CSV renderings of the same >= 1 M requests,
# beside the I/O floor (`cat FILE > /dev/null`) and DuckDB loading the same
# file and computing per-endpoint P50/P95/P99 and error ratio; then a later
# `tailstore query` against the same DuckDB query on the loaded table.
#
#   bash benches/replay/run.sh [minutes=120] [rate=150]     (needs: pip install duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-120}
rate=${2:-150}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -c 'import duckdb' 2>/dev/null || { echo "FATAL: python duckdb missing (pip install duckdb)" >&2; exit 1; }
cargo build --release -q -p tailstore-cli
bin=${CARGO_TARGET_DIR:-target}/release/tailstore

python3 examples/gen_traffic.py --minutes "$minutes" --rate "$rate" > "$work/nginx.log"
python3 benches/replay/convert.py "$work/nginx.log" "$work"
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

printf '%-14s %10s %10s %12s %12s %12s %12s\n' format MB cat_s tailstore_s duckdb_s ts_MB/s ratio_vs_duckdb
for f in nginx.log ingress.log traffic.jsonl traffic.csv; do
  path="$work/$f"
  mb=$(python3 -c "import os; print(round(os.path.getsize('$path') / 1e6, 1))")
  cat_s=$(t cat "$path")
  case $f in
    nginx.log) fmt=nginx ;;
    ingress.log) fmt=ingress-nginx ;;
    traffic.jsonl) fmt=jsonl ;;
    traffic.csv) fmt=csv ;;
  esac
  ts_s=$(t "$bin" replay --format "$fmt" --json "$path")
  duck_s=$(t python3 benches/replay/duck.py "$path" "$fmt")
  printf '%-14s %10s %10.3f %12.3f %12.3f %12.1f %12.2f\n' "$f" "$mb" "$cat_s" "$ts_s" "$duck_s" \
    "$(python3 -c "print($mb / $ts_s)")" "$(python3 -c "print($duck_s / $ts_s)")"
done

# Later queries: tailstore on its store, DuckDB on a loaded table.
"$bin" replay --store "$work/st" --format nginx --json "$work/nginx.log" > /dev/null
python3 benches/replay/duck.py "$work/traffic.csv" csv "$work/duck.db" > /dev/null
start=$(python3 -c "print(1764547200)")
end=$(python3 -c "print(1764547200 + $minutes * 60)")
ts_q=$(t "$bin" query --store "$work/st" --match '.*' --start "$start" --end "$end" --json)
duck_q=$(t python3 benches/replay/duck.py - query "$work/duck.db")
echo "query whole range, all series: tailstore ${ts_q}s (process incl. open), duckdb ${duck_q}s (process incl. connect)"
