"""The DuckDB peer: load a file and compute per-endpoint P50/P95/P99 and error ratio.

    duck.py FILE FORMAT [DB]   load FILE (csv, jsonl, nginx, ingress-nginx) and answer
    duck.py - query DB         answer on the table already loaded in DB
"""
import sys

import duckdb

ERR = "status IN (400,402,403,404,405,406,408,429) OR status BETWEEN 500 AND 599"
Q = f"""SELECT endpoint, count(*) AS n,
  quantile_disc(latency_ms, 0.5) AS p50, quantile_disc(latency_ms, 0.95) AS p95,
  quantile_disc(latency_ms, 0.99) AS p99, avg(CASE WHEN {ERR} THEN 1.0 ELSE 0.0 END) AS err
FROM t GROUP BY endpoint ORDER BY endpoint"""
NGINX_RE = r'^\S+ - - \[[^\]]+\] "\S+ ([^ ?"]+)[^"]*" (\d+) \d+ "[^"]*" "[^"]*" ([0-9.]+)'
INGRESS_RE = r'^\S+ - \S+ \[[^\]]+\] "\S+ ([^ ?"]+)[^"]*" (\d+) \d+ "[^"]*" "[^"]*" \d+ ([0-9.]+)'

path, fmt = sys.argv[1], sys.argv[2]
db = sys.argv[3] if len(sys.argv) > 3 else ":memory:"
con = duckdb.connect(db)
if fmt == "query":
    con.execute(Q).fetchall()
    sys.exit(0)
if fmt == "csv":
    con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv('{path}', header=true)")
elif fmt == "jsonl":
    con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM read_json('{path}', format='newline_delimited')")
else:
    rx = NGINX_RE if fmt == "nginx" else INGRESS_RE
    con.execute(f"""CREATE OR REPLACE TABLE t AS SELECT
        regexp_extract(line, '{rx}', 1) AS endpoint,
        CAST(regexp_extract(line, '{rx}', 2) AS INTEGER) AS status,
        CAST(regexp_extract(line, '{rx}', 3) AS DOUBLE) * 1000 AS latency_ms
      FROM read_csv('{path}', columns={{'line': 'VARCHAR'}}, delim=E'\\x01', quote='', escape='', header=false)""")
con.execute(Q).fetchall()
