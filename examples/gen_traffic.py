#!/usr/bin/env python3
"""The project's traffic generator: a deterministic nginx access log of model
endpoints (nginx `combined` + `$request_time`), with a latency incident and an
error burst, for the README's main job and for benchmarks.

    python3 examples/gen_traffic.py --minutes 10 --rate 30 | gzip -9 > examples/data/model-traffic.log.gz
    python3 examples/gen_traffic.py --minutes 120 --rate 150 > /tmp/big.log   # ~1 M lines

Latencies are lognormal per endpoint; from minute 4 to 6 the fraud model
slows down (x4) and returns 503 on 8 % of requests; 429s come in bursts.
"""
import argparse
import math
import random
import sys
import time

ENDPOINTS = [
    # path, share, median seconds, sigma
    ("/models/fraud-v2/predict", 0.45, 0.042, 0.55),
    ("/models/fraud-v2/explain", 0.05, 0.180, 0.70),
    ("/models/recsys-v7/predict", 0.35, 0.015, 0.45),
    ("/models/llm-small/generate", 0.10, 0.900, 0.80),
    ("/healthz", 0.05, 0.0008, 0.30),
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
AGENTS = ["python-requests/2.31.0", "Go-http-client/1.1", "curl/8.4.0", "kube-probe/1.29"]


def time_local(t):
    g = time.gmtime(t)
    return "%02d/%s/%04d:%02d:%02d:%02d +0000" % (g.tm_mday, MONTHS[g.tm_mon - 1], g.tm_year, g.tm_hour, g.tm_min, g.tm_sec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--rate", type=float, default=30.0, help="mean requests per second")
    ap.add_argument("--start", type=int, default=1_764_547_200, help="unix seconds (2025-12-01T00:00:00Z)")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    r = random.Random(a.seed)
    out = sys.stdout
    weights = [e[1] for e in ENDPOINTS]
    for sec in range(a.minutes * 60):
        t = a.start + sec
        minute = sec // 60
        incident = 4 <= minute < 6
        # Diurnal-ish wobble and Poisson arrivals.
        lam = a.rate * (1.0 + 0.3 * math.sin(sec / 97.0))
        n = 0
        # Knuth for small lambda, normal approximation above.
        if lam < 30:
            L, p = math.exp(-lam), 1.0
            while True:
                p *= r.random()
                if p <= L:
                    break
                n += 1
        else:
            n = max(0, int(r.gauss(lam, math.sqrt(lam)) + 0.5))
        burst_429 = r.random() < 0.02
        for _ in range(n):
            path, _, median, sigma = r.choices(ENDPOINTS, weights)[0]
            lat = median * math.exp(sigma * r.gauss(0, 1))
            status = 200
            if path == "/models/fraud-v2/predict" and incident:
                lat *= 4.0
                if r.random() < 0.08:
                    status = 503
            u = r.random()
            if status == 200:
                if u < 0.004:
                    status = 500
                elif u < 0.010:
                    status = 400
                elif burst_429 and u < 0.30:
                    status = 429
                    lat = 0.0005
            if path == "/models/llm-small/generate" and lat > 10.0:
                status, lat = 504, 10.0
            ip = "10.%d.%d.%d" % (r.randrange(4), r.randrange(256), r.randrange(1, 255))
            size = r.randrange(200, 4000) if status == 200 else r.randrange(50, 200)
            q = "?v=%d" % r.randrange(3) if r.random() < 0.2 else ""
            out.write('%s - - [%s] "POST %s%s HTTP/1.1" %d %d "-" "%s" %.3f\n' % (
                ip, time_local(t), path, q, status, size, r.choice(AGENTS), lat))


if __name__ == "__main__":
    main()
