"""Renders the generator's nginx log as ingress-nginx, JSONL and CSV (same requests).

    convert.py NGINX_LOG OUT_DIR                 ingress.log, traffic.jsonl, traffic.csv
    convert.py NGINX_LOG OUT_DIR --disordered    also the two disordered renderings of
                                                 all four formats (below)

The generator's log is sorted: each line is stamped with its completion second
(nginx's `$time_local`) and lines are in that order. The disordered renderings
hold exactly the same requests (same latency, status, path, ...) and differ only
in line order and, for "completion", in the timestamp:

* completion (nginx.completion.log, ingress.completion.log, traffic.completion.jsonl,
  traffic.completion.csv): every request is stamped with its START second
  (floor(completion - latency), as Envoy/Istio stamp `%START_TIME%`) but lines stay
  in completion order, so the timestamps step backwards by up to a request's
  latency. The generator only has whole seconds, so the n requests of completion
  second t are taken to complete at t + (i + 0.5) / n, i = 0..n-1, in file order.
* pods4 (nginx.pods4.log, ...): the requests are dealt round-robin (line i to pod
  i % 4) into 4 pods, each pod's log sorted by time (the sorted file's order), and
  the four logs concatenated: the file's time runs from start to end four times.
"""
import calendar
import math
import os
import re
import shutil
import sys
import time

args = [a for a in sys.argv[1:] if not a.startswith("--")]
disordered = "--disordered" in sys.argv[1:]
src, out = args[0], args[1]
PODS = 4
pat = re.compile(r'^(\S+) - - \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d+) (\d+) "[^"]*" "([^"]*)" (\S+)$')
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
months = {m: i + 1 for i, m in enumerate(MONTHS)}
# Rendering name -> file name of each format (the sorted nginx log is the input itself).
NAMES = {
    "nginx": ("nginx.log", "nginx.{r}.log"),
    "ingress": ("ingress.log", "ingress.{r}.log"),
    "jsonl": ("traffic.jsonl", "traffic.{r}.jsonl"),
    "csv": ("traffic.csv", "traffic.{r}.csv"),
}
CSV_HEADER = "ts,endpoint,latency_ms,status\n"


def time_local(t):
    g = time.gmtime(t)
    return "%02d/%s/%04d:%02d:%02d:%02d +0000" % (g.tm_mday, MONTHS[g.tm_mon - 1], g.tm_year, g.tm_hour, g.tm_min, g.tm_sec)


tl_of = {}  # unix second -> $time_local


def render(req, ts):
    """The four lines (nginx, ingress, jsonl, csv) of one request stamped with second ts."""
    ip, method, uri, status, size, ua, rt = req
    tl = tl_of.get(ts)
    if tl is None:
        tl = tl_of[ts] = time_local(ts)
    path = uri.split("?")[0]
    lat_ms = float(rt) * 1000
    return (
        '%s - - [%s] "%s %s HTTP/1.1" %s %s "-" "%s" %s\n' % (ip, tl, method, uri, status, size, ua, rt),
        '%s - - [%s] "%s %s HTTP/1.1" %s %s "-" "%s" 512 %s [default-model-svc-80] [] 10.1.2.3:8080 %s %s %s 0123456789abcdef\n'
        % (ip, tl, method, uri, status, size, ua, rt, size, rt, status),
        '{"ts":%d,"endpoint":"%s","latency_ms":%.3f,"status":%s}\n' % (ts, path, lat_ms, status),
        "%d,%s,%.3f,%s\n" % (ts, path, lat_ms, status),
    )


def opened(name, header=False):
    f = open(os.path.join(out, name), "w")
    if header:
        f.write(CSV_HEADER)
    return f


FMTS = ["nginx", "ingress", "jsonl", "csv"]
# sorted[k]: file of format k (None: the input itself); comp[k]; pods[p][k].
sorted_f = [None] + [opened(NAMES[k][0], k == "csv") for k in FMTS[1:]]
comp_f, pods_f = [], []
if disordered:
    comp_f = [opened(NAMES[k][1].format(r="completion"), k == "csv") for k in FMTS]
    pods_f = [[opened(".pod%d.%s" % (p, NAMES[k][1].format(r="pods4")), k == "csv" and p == 0) for k in FMTS]
              for p in range(PODS)]

stats = {"requests": 0, "back_steps": 0, "max_back_s": 0, "restamped": 0, "max_shift_s": 0}
state = {"i": 0, "prev_stamp": None}


def flush_second(t, reqs):
    """Writes the requests that completed in second t (in completion order)."""
    n = len(reqs)
    for j, req in enumerate(reqs):
        i = state["i"]
        state["i"] = i + 1
        lines = render(req, t)
        for k in range(1, 4):
            sorted_f[k].write(lines[k])
        if not disordered:
            continue
        for k in range(4):
            pods_f[i % PODS][k].write(lines[k])
        start = math.floor(t + (j + 0.5) / n - float(req[6]))
        for k, line in enumerate(render(req, start) if start != t else lines):
            comp_f[k].write(line)
        if start != t:
            stats["restamped"] += 1
            stats["max_shift_s"] = max(stats["max_shift_s"], t - start)
        prev = state["prev_stamp"]
        if prev is not None and start < prev:
            stats["back_steps"] += 1
            stats["max_back_s"] = max(stats["max_back_s"], prev - start)
        state["prev_stamp"] = start if prev is None else max(prev, start)


cur_t, cur = None, []
with open(src) as f:
    cache = {}
    for line in f:
        m = pat.match(line.rstrip("\n"))
        ip, tl, method, uri, status, size, ua, rt = m.groups()
        if tl not in cache:
            d, mon, rest = tl.split("/")
            y, hh, mm, ss = rest.split(" ")[0].split(":")
            cache[tl] = calendar.timegm((int(y), months[mon], int(d), int(hh), int(mm), int(ss)))
        ts = cache[tl]
        if ts != cur_t:
            if cur_t is not None:
                if ts < cur_t:
                    sys.exit("convert.py: %s is not sorted by time (%d after %d)" % (src, ts, cur_t))
                flush_second(cur_t, cur)
            cur_t, cur = ts, []
        cur.append((ip, method, uri, status, size, ua, rt))
        stats["requests"] += 1
if cur_t is not None:
    flush_second(cur_t, cur)

for fh in sorted_f[1:] + comp_f + [x for pod in pods_f for x in pod]:
    fh.close()
if disordered:
    # Concatenate the pods' logs: pod 0, then 1, 2, 3 (the CSV header is in pod 0's only).
    for k in FMTS:
        name = NAMES[k][1].format(r="pods4")
        with open(os.path.join(out, name), "wb") as dst:
            for p in range(PODS):
                part = os.path.join(out, ".pod%d.%s" % (p, name))
                with open(part, "rb") as s:
                    shutil.copyfileobj(s, dst, 1 << 20)
                os.remove(part)
    print("convert.py: %(requests)d requests; completion rendering: %(restamped)d stamped before their "
          "completion second (by up to %(max_shift_s)d s), %(back_steps)d lines stamped earlier than "
          "a line above them (by up to %(max_back_s)d s); pods4: %(pods)d pods concatenated"
          % dict(stats, pods=PODS), file=sys.stderr)
