"""Answers of `tailstore replay` on one file, to check a disordered rendering against the sorted one.

    check.py digest BIN FORMAT FILE STORE START END > digest.json
    check.py compare SORTED.json OTHER.json LABEL      exit 1 (and say why) when they differ

digest runs, on FILE:
  * `BIN replay --format FORMAT --json FILE` (the timed command: in memory, nothing written);
  * `BIN replay --store STORE --format FORMAT --json FILE`, then `BIN series --store STORE --json`
    and `BIN query --store STORE --series S --start START --end END --json` for each series S
    and for `--match '.*'` (START..END must cover every timestamp of every rendering).

compare requires, of OTHER against SORTED: the same replay totals (lines, ingested, rejected,
series; `late`, first_ts and last_ts may differ), the same per-series request and error counts
in the store, and the same whole-range query answers (count, errors, quantiles, min, max,
mean, status codes), per series and merged. The sorted digest itself must be consistent:
its series' counts add up to `ingested`, and nothing was rejected.
"""
import json
import subprocess
import sys

KEYS = ("lines", "ingested", "rejected", "series")


def run_json(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("check.py: %s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return json.loads(p.stdout)


def digest(bin_, fmt, path, store, start, end):
    mem = run_json(bin_, "replay", "--format", fmt, "--json", path)
    stored = run_json(bin_, "replay", "--store", store, "--format", fmt, "--json", path)
    series = run_json(bin_, "series", "--store", store, "--json")
    q = lambda *sel: run_json(bin_, "query", "--store", store, *sel, "--start", start, "--end", end, "--json")
    queries = {s["series"]: q("--series", s["series"]) for s in series}
    queries["*"] = q("--match", ".*")
    return {"replay": mem, "replay_store": stored, "series": series, "queries": queries}


def compare(ref, other, label):
    bad = []

    def diff(what, a, b):
        if a != b:
            bad.append("%s: sorted %s, %s %s" % (what, json.dumps(a), label, json.dumps(b)))

    for k in KEYS:
        diff("replay --json " + k, ref["replay"][k], other["replay"][k])
        diff("replay --store --json " + k, ref["replay_store"][k], other["replay_store"][k])
    counts = lambda d: {s["series"]: (s["count"], s["errors"]) for s in d["series"]}
    diff("series --json (count, errors)", counts(ref), counts(other))
    for s in sorted(set(ref["queries"]) | set(other["queries"])):
        a, b = ref["queries"].get(s), other["queries"].get(s)
        if a is None or b is None:
            diff("query " + s, a, b)
            continue
        for k in sorted(set(a) | set(b)):
            diff("query %s %s" % (s, k), a.get(k), b.get(k))
    return bad


def main():
    if sys.argv[1] == "digest":
        json.dump(digest(*sys.argv[2:8]), sys.stdout)
        return
    ref, other = (json.load(open(p)) for p in sys.argv[2:4])
    label = sys.argv[4]
    bad = []
    total = sum(s["count"] for s in ref["series"])
    if total != ref["replay"]["ingested"] or ref["replay"]["rejected"] != 0:
        bad.append("sorted: series counts add up to %d, ingested %d, rejected %d"
                   % (total, ref["replay"]["ingested"], ref["replay"]["rejected"]))
    if other is not ref:
        bad += compare(ref, other, label)
    if bad:
        print("FATAL: %s answers differ from the sorted file's:\n  %s" % (label, "\n  ".join(bad)), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
