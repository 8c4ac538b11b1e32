# Writes an HdrHistogram interval log of wide histograms (see docs/BENCHMARKS.md):
# python3 gen_wide.py OUT INTERVALS SAMPLES_PER_INTERVAL
import random, sys
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter
random.seed(7)
out = open(sys.argv[1], 'w')
w = HistogramLogWriter(out)
w.output_log_format_version(); w.output_base_time(1764547200000)
n_int = int(sys.argv[2]); per = int(sys.argv[3])
for i in range(n_int):
    h = HdrHistogram(1, 3600000000, 3)  # microseconds
    for _ in range(per):
        h.record_value(max(1, int(random.lognormvariate(7, 2.0))))  # ~1 ms median, decades wide
    h.set_start_time_stamp(i*1000); h.set_end_time_stamp((i+1)*1000)
    w.output_interval_histogram(h)
out.close()
