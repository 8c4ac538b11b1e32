"""Reads an interval log with HdrHistogram_py (module `hdrh`) and prints, as
JSON, the interval count, each interval's total count and tag, the merged
total and the merged P99: the independent reader of `tailstore export`'s
hlog output (run by tests/e2e/hlog.rs, which fails if this cannot run)."""
import json
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

HIGHEST = 3600 * 10**9
reader = HistogramLogReader(sys.argv[1], HdrHistogram(1, HIGHEST, 3))
merged = HdrHistogram(1, HIGHEST, 3)
counts, tags = [], []
while True:
    h = reader.get_next_interval_histogram()
    if h is None:
        break
    counts.append(h.get_total_count())
    tags.append(h.get_tag())
    merged.add(h)
print(json.dumps({
    "intervals": len(counts),
    "counts": counts,
    "tags": tags,
    "total": merged.get_total_count(),
    "p99": merged.get_value_at_percentile(99.0),
    "start_time_sec": reader.get_start_time_sec(),
}))
