"""Renders the generator's nginx log as ingress-nginx, JSONL and CSV (same requests)."""
import calendar
import re
import sys

src, out = sys.argv[1], sys.argv[2]
pat = re.compile(r'^(\S+) - - \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d+) (\d+) "[^"]*" "([^"]*)" (\S+)$')
months = {m: i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
with open(src) as f, open(out + "/ingress.log", "w") as ing, open(out + "/traffic.jsonl", "w") as js, \
        open(out + "/traffic.csv", "w") as cs:
    cs.write("ts,endpoint,latency_ms,status\n")
    cache = {}
    for line in f:
        m = pat.match(line.rstrip("\n"))
        ip, tl, method, uri, status, size, ua, rt = m.groups()
        if tl not in cache:
            d, mon, rest = tl.split("/")
            y, hh, mm, ss = rest.split(" ")[0].split(":")
            cache[tl] = calendar.timegm((int(y), months[mon], int(d), int(hh), int(mm), int(ss)))
        ts = cache[tl]
        path = uri.split("?")[0]
        ing.write('%s - - [%s] "%s %s HTTP/1.1" %s %s "-" "%s" 512 %s [default-model-svc-80] [] 10.1.2.3:8080 %s %s %s 0123456789abcdef\n'
                  % (ip, tl, method, uri, status, size, ua, rt, size, rt, status))
        lat_ms = float(rt) * 1000
        js.write('{"ts":%d,"endpoint":"%s","latency_ms":%.3f,"status":%s}\n' % (ts, path, lat_ms, status))
        cs.write("%d,%s,%.3f,%s\n" % (ts, path, lat_ms, status))
