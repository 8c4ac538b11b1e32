//! The `tailstore` command: replay recorded traffic into a store, then query it.
#![forbid(unsafe_code)]

mod alerts;
mod export;
mod ledger;
mod output;
mod replay;
mod serve;
mod time;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser as ClapParser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use tailstore::format::{fmt_float, fmt_ms, fmt_percent, fmt_rate, quantile_key};
use tailstore::{ErrorSet, Options, Selector, SeriesKind, Store, MAX_RANGE_POINTS};
use tailstore_ingest::{Format, LatencySource, ParserOptions, SeriesBy, FORMATS};

use crate::output::{top_statuses, window_json};

/// `println!` that returns write errors (a closed pipe ends the command
/// quietly, with exit code 0) instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?
    }};
}
use crate::time::{parse_duration, parse_time};

/// Exit code of `query` and `query-range` when some second of a window has
/// no intact stored piece (`damaged_s` > 0): the answer covers the rest.
const EXIT_DAMAGED: u8 = 3;

#[derive(ClapParser)]
#[command(
    name = "tailstore",
    version,
    about = "Latency percentiles, rates and error ratios of recorded traffic, from an embedded store.",
    after_help = "Exit codes: 0 success; 1 check found damage, or a replay's lines were all bad; \
                  2 error; 3 query/query-range answered, but some seconds of a window have no \
                  intact stored piece (damaged_s > 0: damaged segment files, see check)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[expect(
    clippy::doc_markdown,
    reason = "clap prints these doc comments verbatim as --help: HdrHistogram is a format's name and the CSV columns are prose there, backticks would show literally"
)]
enum Command {
    /// Replay traffic files (access logs, JSONL, CSV, HdrHistogram interval logs) into a store and
    /// print a per-series summary.
    ///
    /// Example: tailstore replay --store ./st access.log.gz
    ///
    /// hlog: every sample is recorded with status 0 (unknown; never an error) at its bucket's
    /// middle value, spread round-robin over the whole seconds its interval covers (rounded,
    /// at least one, from the interval's start second); series = the `Tag=`, else --series.
    Replay(ReplayArgs),
    /// P50/P95/P99, rate and error ratio of one window.
    ///
    /// A damaged stored piece is answered from the finer levels the store still holds intact;
    /// seconds that no intact piece covers are left out, counted in `damaged_s` (JSON) or a
    /// warning on stderr (table), and make the exit code 3.
    ///
    /// Example: tailstore query --store ./st --match '/models/.*' --last 5m --at 2024-05-28T13:47:00Z --json
    Query(QueryArgs),
    /// One point per step, each the window of length --window ending at that step
    /// (what graphs and alert evaluation use).
    ///
    /// Each point carries `damaged_s` as `query` does; the exit code is 3 when a point has
    /// damaged seconds.
    ///
    /// Example: tailstore query-range --store ./st --match '/models/.*' --start 1764547200 --end 1764550800 --step 1m --window 5m --json
    QueryRange(RangeArgs),
    /// The series in a store, with their kind (requests or gauge), time ranges and counts
    /// (requests, or gauge values).
    ///
    /// Example: tailstore series --store ./st --json
    Series(StoreArg),
    /// Export a store's pieces of one level as an HdrHistogram interval log (one histogram per
    /// piece, ns, V2 + DEFLATE; tagged with the series name under --match) or as CSV (one row
    /// per piece: start,span_s,series,count,errors,error_ratio,min_ms,p50_ms,p90_ms,p99_ms,
    /// p999_ms,max_ms,mean_ms).
    ///
    /// Example: tailstore export --store ./st --match '/models/.*' --format hlog --level 1m --out models.hlog
    Export(ExportArgs),
    /// Integrity report of a store directory: chunks OK, damaged, recovered. Exit 1 when damaged.
    ///
    /// Example: tailstore check --store ./st
    Check(StoreArg),
    /// Backtest a rule file's alerts (and its SLOs' burn-rate alerts) over the stored history:
    /// every episode (pending, firing, resolved), and per rule how often and how long it fired.
    ///
    /// Example: tailstore alerts --rules examples/rules/model-endpoints.yaml --store ./st --json
    Alerts(alerts::AlertsArgs),
    /// A rule file's SLOs over their periods: totals, SLI, error budget left, burn rates over
    /// 5m to 3d, and when the budget ran out.
    ///
    /// Example: tailstore slo --rules examples/rules/model-endpoints.yaml --store ./st --json
    Slo(alerts::SloArgs),
    /// Write a self-contained HTML dashboard (inline SVG, no network): request rate, error rate
    /// with the 1 % target, P50/P95/P99 with the 100/300/500 ms targets, status codes, a latency
    /// heatmap, and a per-endpoint table linking to each endpoint's panels; views of the whole
    /// range and of the last 1 h / 24 h / 7 d where the range is longer.
    ///
    /// Example: tailstore report --store ./st --match '/models/.*' --out report.html
    Report(ReportArgs),
    /// Serve the store's /metrics for Prometheus: per series a latency histogram (classic
    /// buckets from the exact HDR counts) and a request counter by status, in the text format
    /// 0.0.4 or OpenMetrics 1.0 as the scraper's Accept header asks. Also answers the
    /// Prometheus HTTP API (/api/v1/query, query_range, series, labels, label/NAME/values, metadata,
    /// status/buildinfo) for Grafana and promtool: the guide's PromQL over the store's exact
    /// windows (see docs/PROMQL.md). Prints `listening on http://ADDR` as its first line,
    /// then serves until killed.
    ///
    /// Example: tailstore serve --store ./st --names ingress-nginx --listen 127.0.0.1:9464
    Serve(serve::ServeArgs),
    /// Write a Grafana dashboard of the guide's panels (request rate, error rate,
    /// P50/P95/P99, status codes, latency heatmap, endpoints, CPU, memory) over the
    /// metric names `serve` exposes.
    ///
    /// Example: tailstore grafana --names ingress-nginx --datasource-uid prom --out dashboard.json
    Grafana(serve::GrafanaArgs),
}

#[derive(Args)]
struct ReportArgs {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// Only the series whose whole name matches this regex (default: every series).
    #[arg(long = "match", value_name = "REGEX")]
    pattern: Option<String>,
    /// Range start (unix seconds or RFC 3339), with --end; default: the data's first second.
    #[arg(long, requires = "end", conflicts_with = "last")]
    start: Option<String>,
    /// Range end, exclusive.
    #[arg(long, requires = "start")]
    end: Option<String>,
    /// The last D of the selected data (e.g. 1h, 7d), ending at its newest second.
    #[arg(long)]
    last: Option<String>,
    /// Status codes counted as errors, e.g. '5..|429' (default: 400|402|403|404|405|406|408|429|5..).
    #[arg(long)]
    errors: Option<String>,
    /// The page's title.
    #[arg(long, default_value = "tailstore report")]
    title: String,
    /// Rule file (as `tailstore alerts`): adds the alert timeline (a backtest over the range)
    /// and the SLO table (at its end).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Output file (HTML).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum LatencyArg {
    /// The whole request: nginx `$request_time`, Envoy `%DURATION%`
    Request,
    /// The upstream's part: nginx `$upstream_response_time` (a list is summed),
    /// Envoy `x-envoy-upstream-service-time`
    Upstream,
}

#[derive(Clone, Copy, ValueEnum)]
enum HlogUnit {
    Ns,
    Us,
    Ms,
    S,
}

impl HlogUnit {
    fn ns(self) -> u64 {
        match self {
            HlogUnit::Ns => 1,
            HlogUnit::Us => 1_000,
            HlogUnit::Ms => 1_000_000,
            HlogUnit::S => 1_000_000_000,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum SeriesByArg {
    Path,
    Upstream,
    Host,
}

#[derive(Args)]
struct ReplayArgs {
    /// Store directory (created if missing; an existing store is added to). Without it the
    /// replay is held in memory for the summary and discarded at exit.
    #[arg(long)]
    store: Option<PathBuf>,
    // The help comes from the table of formats (`format_help`).
    #[arg(long, default_value = "auto", help = format_help())]
    format: String,
    #[expect(
        clippy::doc_markdown,
        reason = "clap prints this doc comment verbatim as --help: HdrHistogram is a tool's name"
    )]
    /// hlog: unit of the histogram values. jHiccup and HdrHistogram's own tools record ns;
    /// wrk2 and YCSB record us.
    #[arg(long, value_enum, default_value = "ns")]
    hlog_unit: HlogUnit,
    /// hlog: series of intervals without a `Tag=` (default: the file name without `.hlog`).
    #[arg(long, value_name = "NAME")]
    series: Option<String>,
    /// An nginx `log_format` definition, as written in nginx.conf (implies a custom format).
    #[arg(long)]
    log_format: Option<String>,
    /// Latency field of nginx, ingress-nginx and Envoy/Istio logs.
    #[arg(long, value_enum, default_value = "request")]
    latency: LatencyArg,
    /// Series of nginx, ingress-nginx and Envoy/Istio logs: the request path
    /// (default), the upstream name, or the host.
    #[arg(long, value_enum, default_value = "path")]
    series_by: SeriesByArg,
    /// Keep data this long (e.g. 48h, 35d), in data time; default: keep everything.
    #[arg(long)]
    retention: Option<String>,
    /// Reject samples dated further than this ahead of the wall clock
    /// (counted as `future`), so a mis-dated line cannot expire the store.
    #[arg(long, default_value = "1h")]
    max_future: String,
    /// Most series the store creates; past it, new names go to one
    /// `(overflow)` series (counted as `overflowed`). 0 = no cap.
    #[arg(long, default_value_t = 10_000)]
    max_series: usize,
    /// Exit with an error when any line does not parse (a replay in which
    /// every line was bad always exits with an error).
    #[arg(long)]
    strict: bool,
    /// Replay inputs the store's ledger says it already holds (or whose
    /// earlier replay was interrupted) again, from their start: their
    /// requests are then counted again.
    #[arg(long)]
    force: bool,
    /// Print `{"lines":…,"ingested":…,"gauge_samples":…,"rejected":…,"future":…,"late":…,"clamped":…,"series":…,"overflowed":…,"first_ts":…,"last_ts":…}`.
    #[arg(long)]
    json: bool,
    /// Also write the HTML dashboard of the replayed range to this file (as `tailstore report`).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// With --report: the alert timeline and SLO table of this rule file in the dashboard.
    #[arg(long, value_name = "FILE", requires = "report")]
    rules: Option<PathBuf>,
    /// Files to replay (`-` for stdin; gzip and zstd are decompressed, told by their magic bytes).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// `--format`'s help: `auto`, then every format of [`FORMATS`], glossed where
/// its name does not say what it reads.
fn format_help() -> String {
    let mut help = String::from("Input format: auto");
    for f in FORMATS {
        let _ = write!(help, ", {}", f.name);
        if !f.help.is_empty() {
            let _ = write!(help, " ({})", f.help);
        }
    }
    help
}

#[derive(Args)]
struct StoreArg {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

/// The store and the series a query reads.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("sel").required(true).args(["series", "pattern", "gauge"])))]
struct Target {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// Exactly this series.
    #[arg(long)]
    series: Option<String>,
    /// Every series whose whole name matches this regex (merged exactly).
    #[arg(long = "match", value_name = "REGEX")]
    pattern: Option<String>,
    /// `query` only: this gauge (count, min, max, mean, last, growth per hour, restarts).
    #[arg(long, value_name = "NAME")]
    gauge: Option<String>,
}

impl Target {
    /// Opens the store read-only and builds the selector. A `--series`
    /// that the store does not hold is an error (a typo would otherwise
    /// answer an empty window that looks like no traffic).
    fn open(&self) -> Result<(Store, Selector)> {
        if self.gauge.is_some() {
            bail!("--gauge works with `tailstore query` only; give --series or --match here");
        }
        let store = open_store(&self.store)?;
        if let Some(s) = &self.series {
            if !store.has_series(s) {
                bail!("series {s:?} is not in store {}", self.store.display());
            }
        }
        let sel = selector(self.series.as_deref(), self.pattern.as_deref())?;
        Ok((store, sel))
    }
}

#[derive(Args)]
struct QueryArgs {
    #[command(flatten)]
    target: Target,
    /// Window start (unix seconds or RFC 3339), with --end.
    #[arg(long, requires = "end", conflicts_with = "last")]
    start: Option<String>,
    /// Window end, exclusive.
    #[arg(long, requires = "start")]
    end: Option<String>,
    /// Sliding window length (90s, 5m, 1h, 7d) ending now or at --at.
    #[arg(long, required_unless_present = "start")]
    last: Option<String>,
    /// End of the --last window.
    #[arg(long, requires = "last")]
    at: Option<String>,
    /// Quantiles, comma-separated fractions.
    #[arg(long, default_value = "0.5,0.95,0.99")]
    quantiles: String,
    /// Status codes counted as errors, e.g. '5..|429' (default: 400|402|403|404|405|406|408|429|5..).
    #[arg(long)]
    errors: Option<String>,
    /// JSON output (one object; `"damaged_s"`: seconds no intact stored piece covers, 0 when whole).
    #[arg(long)]
    json: bool,
    #[expect(
        clippy::doc_markdown,
        reason = "clap prints this doc comment verbatim as --help: HdrHistogram is a format's name"
    )]
    /// Output format: table (default), json (as --json), or hgrm (the window's latencies as
    /// HdrHistogram's percentile distribution, as Java's outputPercentileDistribution prints it).
    #[arg(long, value_enum, conflicts_with = "json")]
    format: Option<QueryFormat>,
    /// The same as --format hgrm.
    #[arg(long, conflicts_with_all = ["json", "format"])]
    hgrm: bool,
    #[expect(
        clippy::doc_markdown,
        reason = "clap prints this doc comment verbatim as --help: HdrHistogram is a library's name"
    )]
    /// hgrm: unit of the printed values (ms, as HdrHistogram's tools print by default).
    #[arg(long, value_enum, default_value = "ms")]
    hgrm_unit: HlogUnit,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QueryFormat {
    /// The summary (default)
    Table,
    /// One JSON object, as --json
    Json,
    #[expect(
        clippy::doc_markdown,
        reason = "clap prints this doc comment verbatim as --help: HdrHistogram is a format's name"
    )]
    /// HdrHistogram's percentile distribution text (.hgrm)
    Hgrm,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    #[expect(
        clippy::doc_markdown,
        reason = "clap prints this doc comment verbatim as --help: HdrHistogram is a format's name"
    )]
    /// HdrHistogram interval log (format 1.3)
    Hlog,
    /// One CSV row per piece
    Csv,
    #[expect(
        clippy::doc_markdown,
        reason = "clap prints this doc comment verbatim as --help: OpenMetrics is a format's name"
    )]
    /// OpenMetrics text with timestamps, counts cumulated per point, for Prometheus's
    /// backfill (promtool tsdb create-blocks-from openmetrics FILE DIR)
    Openmetrics,
    #[expect(
        clippy::doc_markdown,
        reason = "clap prints this doc comment verbatim as --help: HdrHistogram is a format's name"
    )]
    /// HdrHistogram's percentile distribution (.hgrm) of the selected series' latencies in
    /// [--start, --end), merged (as query --format hgrm)
    Hgrm,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("sel").required(true).args(["series", "pattern"])))]
struct ExportArgs {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// Exactly this series (hlog: untagged intervals).
    #[arg(long)]
    series: Option<String>,
    /// Every series whose whole name matches this regex (hlog: each interval tagged with its series).
    #[arg(long = "match", value_name = "REGEX")]
    pattern: Option<String>,
    /// Output format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Pieces starting at or after this time (unix seconds or RFC 3339); default: the beginning.
    #[arg(long)]
    start: Option<String>,
    /// Pieces starting before this time; default: the end.
    #[arg(long)]
    end: Option<String>,
    /// Piece length: 1s, 1m or 1h (the store's rollup levels); for openmetrics, the
    /// distance between the points written.
    #[arg(long, default_value = "1s")]
    level: String,
    /// hgrm: unit of the printed values.
    #[arg(long, value_enum, default_value = "ms")]
    hgrm_unit: HlogUnit,
    /// openmetrics: metric and label names (tailstore or ingress-nginx), as `serve --names`.
    #[arg(long, default_value = "tailstore", value_name = "PRESET")]
    names: String,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct RangeArgs {
    #[command(flatten)]
    target: Target,
    /// First point (unix seconds or RFC 3339).
    #[arg(long)]
    start: String,
    /// Last point (inclusive when it falls on a step).
    #[arg(long)]
    end: String,
    /// Distance between points (e.g. 15s, 1m).
    #[arg(long)]
    step: String,
    /// Window length of each point (e.g. 5m), ending at the point.
    #[arg(long)]
    window: String,
    /// Quantiles, comma-separated fractions.
    #[arg(long, default_value = "0.5,0.95,0.99")]
    quantiles: String,
    /// Status codes counted as errors, e.g. '5..|429'.
    #[arg(long)]
    errors: Option<String>,
    /// JSON output: {"points":[{"t":…, …the query fields…}]}.
    #[arg(long)]
    json: bool,
}

fn cmd_query_range(args: &RangeArgs) -> Result<ExitCode> {
    let (store, sel) = args.target.open()?;
    let qs = parse_quantiles(&args.quantiles)?;
    let errors = args.errors.as_deref().map(ErrorSet::parse).transpose()?;
    let (start, end) = (parse_time(&args.start)?, parse_time(&args.end)?);
    if end < start {
        bail!("--end is before --start");
    }
    let step = parse_duration(&args.step)?;
    let window = parse_duration(&args.window)?;
    if step.is_zero() {
        bail!("--step must be positive");
    }
    let span = end.duration_since(start).unwrap_or_default();
    let points = span.as_nanos() / step.as_nanos() + 1;
    if points > u128::from(MAX_RANGE_POINTS) {
        bail!("{points} points: more than {MAX_RANGE_POINTS}; use a larger --step");
    }
    // One visit per piece where the points slide over a rollup level (see
    // `Query::range_with`), a planned query per point elsewhere; each point
    // is rendered as it comes.
    let mut q = store.query(sel).last(window);
    if let Some(e) = &errors {
        q = q.errors(e.clone());
    }
    // Points with seconds that no intact piece covers.
    let mut damaged_points = 0u64;
    if args.json {
        let mut v: Vec<Value> = Vec::new();
        q.range_with(start, end, step, |t, w| {
            damaged_points += u64::from(w.damaged_s() > 0);
            let mut m = serde_json::Map::new();
            m.insert("t".into(), json!(t));
            m.extend(window_json(w, &qs));
            v.push(Value::Object(m));
        })?;
        outln!("{}", json!({ "points": v }));
    } else {
        let mut rows: Vec<String> = Vec::new();
        q.range_with(start, end, step, |t, w| {
            damaged_points += u64::from(w.damaged_s() > 0);
            let qv = w.quantiles(&qs).into_iter().fold(String::new(), |mut qv, v| {
                let _ = write!(qv, "{:>9}", fmt_ms(v, 1));
                qv
            });
            rows.push(format!(
                "{:>12} {:>9} {:>9} {:>7} {}",
                t,
                w.count(),
                fmt_rate(w.rate_per_sec(), 2),
                fmt_percent(w.error_ratio().unwrap_or(0.0), 2),
                qv
            ));
        })?;
        outln!(
            "{:>12} {:>9} {:>9} {:>7} {}",
            "t",
            "count",
            "req/s",
            "err %",
            qs.iter().fold(String::new(), |mut head, q| {
                let _ = write!(head, "{:>9}", quantile_key(*q));
                head
            })
        );
        for r in rows {
            outln!("{r}");
        }
        if damaged_points > 0 {
            eprintln!(
                "tailstore: warning: {damaged_points} points have seconds that no intact stored \
                 piece covers (damaged segment files, see `tailstore check`); they count the \
                 other seconds only"
            );
        }
    }
    Ok(if damaged_points > 0 { ExitCode::from(EXIT_DAMAGED) } else { ExitCode::SUCCESS })
}

/// `--series NAME` (exact) or `--match REGEX` (clap makes one of them required).
fn selector(series: Option<&str>, pattern: Option<&str>) -> Result<Selector> {
    Ok(match (series, pattern) {
        (Some(s), _) => Selector::exact(s),
        (None, Some(m)) => Selector::regex(m)?,
        (None, None) => bail!("give --series NAME or --match REGEX"),
    })
}

/// Refuses what is not a store directory: missing, or without a segment
/// file or a writer's pid file (an empty store would answer nothing).
fn require_store(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        bail!("store {}: no such directory", dir.display());
    }
    if !tailstore::is_store(dir) {
        bail!("{}: not a tailstore store (no segment files, no tailstore.lock)", dir.display());
    }
    Ok(())
}

fn open_store(dir: &Path) -> Result<Store> {
    require_store(dir)?;
    Store::open_read_only(dir, Options::default().keep_everything())
        .with_context(|| format!("cannot open store {}", dir.display()))
}

fn parse_quantiles(s: &str) -> Result<Vec<f64>> {
    s.split(',')
        .map(|q| {
            let v: f64 =
                q.trim().parse().with_context(|| format!("quantile {q:?} is not a number"))?;
            if !(0.0..=1.0).contains(&v) {
                bail!("quantile {v} is outside [0, 1] (write 0.99, not 99)");
            }
            Ok(v)
        })
        .collect()
}

/// The inputs exist and are not directories; `--store` is a store or a new
/// or empty directory.
fn check_replay_paths(args: &ReplayArgs) -> Result<()> {
    for f in &args.files {
        if f.as_os_str() == "-" {
            continue;
        }
        // Regular files, FIFOs and process substitution (`<(cmd)`) are read.
        match std::fs::metadata(f) {
            Ok(m) if m.is_dir() => bail!("{}: is a directory, not a traffic file", f.display()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{}: no such file", f.display());
            }
            Err(e) => bail!("{}: {e}", f.display()),
        }
    }
    // Without --store the store would be removed at exit, so it is kept in
    // memory and never written.
    // A rule file that does not load is said before anything is replayed.
    if let Some(r) = &args.rules {
        tailstore_rules::Rules::from_path(r).with_context(|| format!("--rules {}", r.display()))?;
    }
    if let Some(out) = &args.report {
        let parent = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            bail!("--report {}: no such directory {}", out.display(), parent.display());
        }
        if let Some(dir) = &args.store {
            refuse_inside_store(out, dir).context("--report")?;
        }
    }
    if let Some(dir) = &args.store {
        // A new store goes into an empty (or new) directory, never among
        // other files.
        let non_empty = std::fs::read_dir(dir).is_ok_and(|mut e| e.next().is_some());
        if non_empty && !tailstore::is_store(dir) {
            bail!(
                "{}: not empty and not a tailstore store; give a new or empty directory",
                dir.display()
            );
        }
    }
    Ok(())
}

/// The store options of a replay.
fn replay_options(args: &ReplayArgs) -> Result<Options> {
    // Logs of several pods concatenated revisit an hour: a replay tolerates
    // an hour of disorder before calling a line late. Seal passes run after
    // each block, in input order (see `replay`), so results do not depend
    // on thread timing.
    let mut opts = Options::default()
        .keep_everything()
        .manual_seal(true)
        .lateness(Duration::from_secs(3600))
        .flush_every(Duration::from_secs(5))
        .max_future(parse_duration(&args.max_future)?)
        .max_series(args.max_series);
    if let Some(r) = &args.retention {
        let d = parse_duration(r)?;
        opts = opts.retention(d).retention_minutes(d).retention_hours(d);
    }
    Ok(opts)
}

fn cmd_replay(args: &ReplayArgs) -> Result<ExitCode> {
    let format = match (&args.log_format, args.format.as_str()) {
        (Some(f), _) => Some(Format::LogFormat(f.clone())),
        (None, "auto") => None,
        (None, f) => Some(f.parse::<Format>().map_err(|e| anyhow::anyhow!("--format {f}: {e}"))?),
    };
    let popts = ParserOptions {
        latency: match args.latency {
            LatencyArg::Request => LatencySource::Request,
            LatencyArg::Upstream => LatencySource::Upstream,
        },
        series_by: match args.series_by {
            SeriesByArg::Path => SeriesBy::Path,
            SeriesByArg::Upstream => SeriesBy::Upstream,
            SeriesByArg::Host => SeriesBy::Host,
        },
    };
    let opts = replay_options(args)?;
    check_replay_paths(args)?;
    // Every input is opened and recognised before the first sample.
    replay::check_inputs(&args.files, format.as_ref(), popts)?;
    let mut ledger = args.store.as_deref().map(ledger::Ledger::load).transpose()?;
    let plan = match &ledger {
        Some(l) => ledger::plan(l, &args.files, args.force)?,
        None => vec![(None, replay::Start::Whole); args.files.len()],
    };
    if plan.iter().all(|p| p.1 == replay::Start::Skip) {
        eprintln!("tailstore: nothing to replay: every input is already in this store (--force adds them again)");
        return Ok(ExitCode::from(1));
    }
    let store = match &args.store {
        Some(dir) => Store::open(dir, opts.fsync(tailstore::FsyncPolicy::Always))
            .with_context(|| format!("cannot open store {}", dir.display()))?,
        None => Store::in_memory(opts),
    };
    let tracked: Vec<(u128, &Path)> = args
        .files
        .iter()
        .zip(&plan)
        .filter(|(_, p)| p.1 != replay::Start::Skip)
        .filter_map(|(f, p)| p.0.map(|id| (id, f.as_path())))
        .collect();
    if let Some(l) = &mut ledger {
        l.open(&tracked)?;
    }
    let hopts = replay::HlogOptions { unit_ns: args.hlog_unit.ns(), series: args.series.clone() };
    let starts: Vec<replay::Start> = plan.iter().map(|p| p.1).collect();
    let replayed = replay::replay(&store, &args.files, &starts, format.as_ref(), popts, &hopts)?;
    let totals = &replayed.totals;
    // The ledger commits only what the store holds on disk.
    store.flush().context("writing the store")?;
    if let Some(l) = &mut ledger {
        l.commit(&ledger::commits(&args.files, &plan, &replayed))?;
    }
    if let Some(e) = &replayed.error {
        eprintln!("tailstore: replay stopped: {e:#}");
        for (i, f) in args.files.iter().enumerate() {
            eprintln!("  {}: {}", f.display(), ledger::progress_note(&plan[i], &replayed.files[i]));
        }
        if ledger.is_some() {
            eprintln!("re-running the same command resumes after what was committed");
        }
        return Ok(ExitCode::from(1));
    }
    for e in &totals.errors {
        let reason = output::shown(&e.reason);
        eprintln!("{}:{}: skipped: {reason}", args.files[e.file].display(), e.line);
    }
    if totals.bad > totals.errors.len() as u64 {
        eprintln!("… {} bad lines in all", totals.bad);
    }
    let st = store.stats();
    if args.json {
        outln!(
            "{}",
            json!({
                "lines": totals.lines,
                "ingested": totals.ingested,
                "gauge_samples": totals.gauge_samples,
                "rejected": totals.bad + st.rejected,
                "future": st.future,
                "late": st.late,
                "clamped": replayed_window(&store, totals)?.map_or(0, |w| w.clamped()),
                "series": totals.series,
                "overflowed": totals.overflowed,
                "first_ts": totals.first_ts,
                "last_ts": totals.last_ts,
            })
        );
    } else {
        summary(&store, totals)?;
    }
    replay_report(args, &store, totals)?;
    if args.strict && totals.bad > 0 {
        eprintln!("tailstore: {} bad lines (--strict)", totals.bad);
        return Ok(ExitCode::from(1));
    }
    if totals.bad > 0 && totals.ingested == 0 && totals.gauge_samples == 0 {
        eprintln!("tailstore: every one of the {} lines was bad: nothing replayed", totals.bad);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--report`: the dashboard of every series over the replayed span.
fn replay_report(args: &ReplayArgs, store: &Store, totals: &replay::Totals) -> Result<()> {
    let (Some(path), Some(first), Some(last)) = (&args.report, totals.first_ts, totals.last_ts)
    else {
        return Ok(());
    };
    let mut report = tailstore_report::Report::new(Selector::all()).between(first, last + 1);
    if let Some(r) = &args.rules {
        report = with_rules(report, r)?;
    }
    let s = write_report(store, &report, path)?;
    let note = report_note(path, &s);
    // Standard output stays one JSON object under --json.
    if args.json {
        eprintln!("{note}");
    } else {
        outln!("{note}");
    }
    Ok(())
}

/// Every series over the span the replay covered; `None` when it ingested
/// nothing.
fn replayed_window(store: &Store, t: &replay::Totals) -> Result<Option<tailstore::WindowStats>> {
    let (Some(first), Some(last)) = (t.first_ts, t.last_ts) else { return Ok(None) };
    let w = store
        .query(Selector::all())
        .between(
            std::time::UNIX_EPOCH + Duration::from_secs(first),
            std::time::UNIX_EPOCH + Duration::from_secs(last + 1),
        )
        .run()?;
    Ok(Some(w))
}

/// One line per kind of sample the store set aside or bent, when any;
/// `clamped`: latencies of the replayed span above the histogram's range.
fn notes(store: &Store, clamped: u64, overflowed: u64) -> Result<()> {
    let st = store.stats();
    if st.future > 0 {
        outln!(
            "{} requests dated further ahead of the clock than --max-future: not stored",
            st.future
        );
    }
    if overflowed > 0 {
        outln!(
            "{overflowed} new series past --max-series: their requests are in the (overflow) series"
        );
    }
    if clamped > 0 {
        outln!(
            "{clamped} latencies above the histogram's range: in its top bucket (max and mean exact)"
        );
    }
    Ok(())
}

fn summary(store: &Store, t: &replay::Totals) -> Result<()> {
    let (Some(first), Some(last)) = (t.first_ts, t.last_ts) else {
        outln!("{} lines, nothing ingested ({} bad)", t.lines, t.bad);
        return Ok(());
    };
    let (from, to) = (
        std::time::UNIX_EPOCH + Duration::from_secs(first),
        std::time::UNIX_EPOCH + Duration::from_secs(last + 1),
    );
    outln!(
        "{} lines, {} requests ({} without latency), {} bad, {} s of traffic from {}",
        t.lines,
        t.ingested,
        t.unknown_latency,
        t.bad,
        last + 1 - first,
        humantime::format_rfc3339_seconds(from)
    );
    if t.gauge_samples > 0 {
        outln!(
            "{} gauge samples ({}): see `tailstore query --gauge NAME`",
            t.gauge_samples,
            store.gauge_names().join(", ")
        );
    }
    outln!(
        "{:<40} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}  top statuses",
        "series",
        "count",
        "req/s",
        "err %",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms"
    );
    let row = |name: &str, w: &tailstore::WindowStats| -> Result<()> {
        let q = w.quantiles(&[0.5, 0.95, 0.99]);
        outln!(
            "{:<40} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}  {}",
            output::shown(name),
            w.count(),
            fmt_rate(w.rate_per_sec(), 2),
            fmt_percent(w.error_ratio().unwrap_or(0.0), 2),
            fmt_ms(q[0], 1),
            fmt_ms(q[1], 1),
            fmt_ms(q[2], 1),
            fmt_ms(w.max(), 1),
            top_statuses(w, 3)
        );
        Ok(())
    };
    let names = store.series_names();
    for name in &names {
        let w = store.query(Selector::exact(name.as_str())).between(from, to).run()?;
        if w.count() > 0 {
            row(name, &w)?;
        }
    }
    // One query of every series: the (all) row and the clamped count.
    let all = store.query(Selector::all()).between(from, to).run()?;
    if names.len() > 1 && all.count() > 0 {
        row("(all)", &all)?;
    }
    notes(store, all.clamped(), t.overflowed)
}

fn cmd_query(args: &QueryArgs) -> Result<ExitCode> {
    if let Some(name) = &args.target.gauge {
        return cmd_query_gauge(args, name);
    }
    let (store, sel) = args.target.open()?;
    let qs = parse_quantiles(&args.quantiles)?;
    let mut q = store.query(sel);
    if let Some(e) = &args.errors {
        q = q.errors(ErrorSet::parse(e)?);
    }
    let q = match window_of(args)? {
        Window::Between(start, end) => q.between(start, end),
        Window::Last(len, None) => q.last(len),
        Window::Last(len, Some(at)) => q.last(len).ending_at(at),
    };
    let w = q.run()?;
    let format = if args.json {
        QueryFormat::Json
    } else if args.hgrm {
        QueryFormat::Hgrm
    } else {
        args.format.unwrap_or(QueryFormat::Table)
    };
    if format == QueryFormat::Hgrm {
        let opts = hgrm_options(args.hgrm_unit);
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        tailstore_harness::write_hgrm(&mut out, &w, &opts)?;
        std::io::Write::flush(&mut out)?;
    } else if format == QueryFormat::Json {
        outln!("{}", Value::Object(window_json(&w, &qs)));
    } else {
        let (start, end) = w.bounds_s();
        outln!("window   [{start}, {end}) = {} s", end - start);
        outln!(
            "count    {} ({} req/s; {} without a known latency, left out of the quantiles)",
            w.count(),
            fmt_rate(w.rate_per_sec(), 3),
            w.count() - w.latency_count()
        );
        outln!("errors   {} ({} %)", w.errors(), fmt_percent(w.error_ratio().unwrap_or(0.0), 3));
        for (q, v) in qs.iter().zip(w.quantiles(&qs)) {
            outln!("{:<8} {} ms", quantile_key(*q), fmt_ms(v, 1));
        }
        outln!(
            "min/mean/max {} / {} / {} ms",
            fmt_ms(w.min(), 1),
            fmt_ms(w.mean(), 1),
            fmt_ms(w.max(), 1)
        );
        outln!("status   {}", top_statuses(&w, 10));
        if w.damaged_s() > 0 {
            eprintln!(
                "tailstore: warning: {} s of the window have no intact stored piece (damaged \
                 segment files, see `tailstore check`): the answer covers the other {} s only",
                w.damaged_s(),
                (end - start).saturating_sub(w.damaged_s())
            );
        }
    }
    Ok(if w.damaged_s() > 0 { ExitCode::from(EXIT_DAMAGED) } else { ExitCode::SUCCESS })
}

/// The window `query` asks for: `--start --end`, or `--last [--at]`.
enum Window {
    Between(std::time::SystemTime, std::time::SystemTime),
    Last(Duration, Option<std::time::SystemTime>),
}

fn window_of(args: &QueryArgs) -> Result<Window> {
    Ok(match (&args.start, &args.end, &args.last) {
        (Some(start), Some(end), _) => Window::Between(parse_time(start)?, parse_time(end)?),
        (_, _, Some(last)) => {
            Window::Last(parse_duration(last)?, args.at.as_deref().map(parse_time).transpose()?)
        }
        _ => bail!("give --start T --end T, or --last D [--at T]"),
    })
}

/// `query --gauge NAME`: a gauge's aggregates over the window.
fn cmd_query_gauge(args: &QueryArgs, name: &str) -> Result<ExitCode> {
    let store = open_store(&args.target.store)?;
    if !store.gauge_names().iter().any(|g| g == name) {
        bail!("gauge {name:?} is not in store {}", args.target.store.display());
    }
    let q = store.gauge_query(Selector::exact(name));
    let q = match window_of(args)? {
        Window::Between(start, end) => q.between(start, end),
        Window::Last(len, None) => q.last(len),
        Window::Last(len, Some(at)) => q.last(len).ending_at(at),
    };
    let st = q.run()?;
    if args.json {
        outln!(
            "{}",
            json!({
                "gauge": name,
                "start": st.start_s(),
                "end": st.end_s(),
                "count": st.count(),
                "min": st.min(),
                "max": st.max(),
                "mean": st.mean(),
                "last": st.last(),
                "growth_pct_per_hour": st.growth_pct_per_hour(),
                "restarts": st.restarts_s(),
                "damaged_s": st.damaged_s(),
            })
        );
    } else {
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), fmt_float);
        outln!("gauge    {name}");
        outln!("window   [{}, {}) = {} s", st.start_s(), st.end_s(), st.end_s() - st.start_s());
        outln!("count    {}", st.count());
        outln!("min/mean/max {} / {} / {}", f(st.min()), f(st.mean()), f(st.max()));
        outln!("last     {}", f(st.last()));
        outln!("growth   {} %/h", f(st.growth_pct_per_hour()));
        let restarts: Vec<String> = st.restarts_s().iter().map(u64::to_string).collect();
        outln!("restarts {}", if restarts.is_empty() { "none".into() } else { restarts.join(" ") });
        if st.damaged_s() > 0 {
            eprintln!(
                "tailstore: warning: {} s of the window have no intact stored piece (damaged \
                 gauge files, see `tailstore check`): the answer covers the other seconds only",
                st.damaged_s()
            );
        }
    }
    Ok(if st.damaged_s() > 0 { ExitCode::from(EXIT_DAMAGED) } else { ExitCode::SUCCESS })
}

fn cmd_series(args: &StoreArg) -> Result<ExitCode> {
    let store = open_store(&args.store)?;
    let mut rows = Vec::new();
    for info in store.series_info() {
        let (first, end) = info.bounds_s.unwrap_or((0, 0));
        let (a, b) = (
            std::time::UNIX_EPOCH + Duration::from_secs(first),
            std::time::UNIX_EPOCH + Duration::from_secs(end),
        );
        let selector = Selector::exact(info.name.as_str());
        // A gauge has values, not requests: no error count.
        let (count, errors) = if info.kind == SeriesKind::Gauge {
            (store.gauge_query(selector).between(a, b).run()?.count(), None)
        } else {
            let w = store.query(selector).between(a, b).run()?;
            (w.count(), Some(w.errors()))
        };
        rows.push((
            info.name,
            info.kind.as_str(),
            info.bounds_s.map(|b| b.0),
            info.bounds_s.map(|b| b.1 - 1),
            count,
            errors,
        ));
    }
    if args.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({"series": r.0, "kind": r.1, "first_ts": r.2, "last_ts": r.3, "count": r.4, "errors": r.5})
            })
            .collect();
        outln!("{}", Value::Array(v));
    } else {
        outln!(
            "{:<48} {:<8} {:>12} {:>12} {:>10} {:>8}",
            "series",
            "kind",
            "first_ts",
            "last_ts",
            "count",
            "errors"
        );
        for r in rows {
            outln!(
                "{:<48} {:<8} {:>12} {:>12} {:>10} {:>8}",
                output::shown(&r.0),
                r.1,
                r.2.map_or("-".into(), |v| v.to_string()),
                r.3.map_or("-".into(), |v| v.to_string()),
                r.4,
                r.5.map_or("-".into(), |v| v.to_string())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_check(args: &StoreArg) -> Result<ExitCode> {
    require_store(&args.store)?;
    let report = tailstore::check(&args.store, &tailstore::Layout::default())
        .with_context(|| format!("checking {}", args.store.display()))?;
    if args.json {
        let damaged: Vec<Value> = report
            .damaged
            .iter()
            .map(|d| json!({"file": d.path.display().to_string(), "offset": d.offset, "skipped": d.skipped, "reason": d.reason}))
            .collect();
        outln!(
            "{}",
            json!({"segments": report.segments, "chunks_ok": report.chunks_ok, "intervals": report.intervals,
                   "damaged": damaged, "recovered": report.recovered, "bytes": report.bytes})
        );
    } else {
        outln!(
            "{} segments, {} bytes: {} chunks OK ({} intervals), {} damaged regions, {} chunks recovered after damage",
            report.segments,
            report.bytes,
            report.chunks_ok,
            report.intervals,
            report.damaged.len(),
            report.recovered
        );
        for d in &report.damaged {
            outln!(
                "damaged: {} at byte {} ({} bytes skipped): {}",
                d.path.display(),
                d.offset,
                d.skipped,
                d.reason
            );
        }
    }
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn unix_s(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `.hgrm` options printing values in `unit`.
fn hgrm_options(unit: HlogUnit) -> tailstore_harness::HgrmOptions {
    #[expect(
        clippy::cast_precision_loss,
        reason = "the unit's ns count (at most 10^9) is exact in an f64"
    )]
    let value_unit_ratio = unit.ns() as f64;
    tailstore_harness::HgrmOptions { value_unit_ratio, ..tailstore_harness::HgrmOptions::default() }
}

fn cmd_export(args: &ExportArgs) -> Result<ExitCode> {
    let span_s: u32 = match args.level.as_str() {
        "1s" => 1,
        "1m" => 60,
        "1h" => 3600,
        l => bail!("--level {l}: expected 1s, 1m or 1h"),
    };
    let start_s = args.start.as_deref().map(parse_time).transpose()?.map_or(0, unix_s);
    let end_s = args.end.as_deref().map(parse_time).transpose()?.map_or(u64::MAX, unix_s);
    if end_s < start_s {
        bail!("--end is before --start");
    }
    let store = open_store(&args.store)?;
    let sel = selector(args.series.as_deref(), args.pattern.as_deref())?;
    let names: Vec<String> = store.series_names().into_iter().filter(|n| sel.matches(n)).collect();
    if names.is_empty() {
        match &args.series {
            Some(s) => bail!("series {s:?} is not in store {}", args.store.display()),
            None => bail!("no series of store {} matches the regex", args.store.display()),
        }
    }
    if let Some(p) = &args.out {
        refuse_inside_store(p, &args.store).context("--out")?;
    }
    let mut out: Box<dyn std::io::Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if args.format == ExportFormat::Openmetrics {
        let preset = tailstore_prometheus::Names::parse(&args.names)
            .map_err(|e| anyhow::anyhow!("--names: {e}"))?;
        let e = tailstore_prometheus::Exposition::new(preset).selector(sel);
        let wrote = e
            .backfill(&store, (start_s, end_s), u64::from(span_s), &mut out)
            .context("writing the OpenMetrics history")?;
        out.flush()?;
        if let Some(p) = &args.out {
            eprintln!(
                "{} samples of {} series written to {} (promtool tsdb create-blocks-from openmetrics {} DIR)",
                wrote.samples,
                wrote.series,
                p.display(),
                p.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == ExportFormat::Hgrm {
        // The window [start, end) of every selected series, merged; an open
        // end is the store's newest second.
        let end_s = end_s.min(store.stats().newest_s.saturating_add(1)).max(start_s);
        let w = store
            .query(sel)
            .between(
                std::time::UNIX_EPOCH + Duration::from_secs(start_s),
                std::time::UNIX_EPOCH + Duration::from_secs(end_s),
            )
            .run()?;
        let opts = hgrm_options(args.hgrm_unit);
        tailstore_harness::write_hgrm(&mut out, &w, &opts)?;
        out.flush()?;
        if let Some(p) = &args.out {
            eprintln!(
                "{} latencies of {} series in [{start_s}, {end_s}) written to {}",
                w.latency_count(),
                names.len(),
                p.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let all = export::collect(&store, names, span_s, start_s, end_s);
    let n = match args.format {
        ExportFormat::Hlog => {
            export::write_hlog(&mut *out, &all, &store.layout(), args.pattern.is_some())?
        }
        ExportFormat::Csv => export::write_csv(&mut *out, &store, &all)?,
        ExportFormat::Openmetrics | ExportFormat::Hgrm => 0,
    };
    out.flush()?;
    if let Some(p) = &args.out {
        eprintln!("{n} pieces of {} series written to {}", all.len(), p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses an output file inside a store directory (it would be taken
/// for one of its files, or overwrite one).
fn refuse_inside_store(out: &Path, store: &Path) -> Result<()> {
    let parent = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let (Ok(dir), Ok(store_dir)) = (parent.canonicalize(), store.canonicalize()) {
        if dir.starts_with(&store_dir) {
            bail!("{}: inside the store {}; write it elsewhere", out.display(), store.display());
        }
    }
    Ok(())
}

/// Renders `report` into `path` (written beside it, then renamed over it,
/// so a failed report never leaves half a page).
fn write_report(
    store: &Store,
    report: &tailstore_report::Report,
    path: &Path,
) -> Result<tailstore_report::Summary> {
    let mut page = Vec::new();
    let summary = report.render(store, &mut page).context("building the report")?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, &page).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(summary)
}

/// `report: report.html (312 KB, 5 series, step 5 s; open it in a browser)`.
fn report_note(path: &Path, s: &tailstore_report::Summary) -> String {
    let steps: Vec<String> =
        s.views.iter().map(|v| format!("{} step {} s", v.label.to_lowercase(), v.step_s)).collect();
    format!(
        "report: {} ({} KB, {} series; {}): open it in a browser",
        path.display(),
        s.bytes.div_ceil(1024),
        s.series,
        steps.join(", ")
    )
}

/// `report` with the rules of the file at `path`.
fn with_rules(
    report: tailstore_report::Report,
    path: &std::path::Path,
) -> Result<tailstore_report::Report> {
    let rules = tailstore_rules::Rules::from_path(path)
        .with_context(|| format!("--rules {}", path.display()))?;
    Ok(report.rules(rules, path.display().to_string()))
}

fn cmd_report(args: &ReportArgs) -> Result<ExitCode> {
    let store = open_store(&args.store)?;
    refuse_inside_store(&args.out, &args.store).context("--out")?;
    let sel = match &args.pattern {
        Some(p) => Selector::regex(p)?,
        None => Selector::all(),
    };
    let mut report = tailstore_report::Report::new(sel).title(args.title.as_str());
    if let Some(p) = &args.pattern {
        report = report.selection_text(format!("matching {p}"));
    }
    if let Some(e) = &args.errors {
        report = report.errors(ErrorSet::parse(e)?);
    }
    if let Some(r) = &args.rules {
        report = with_rules(report, r)?;
    }
    report = match (&args.start, &args.end, &args.last) {
        (Some(s), Some(e), _) => {
            let (s, e) = (unix_s(parse_time(s)?), unix_s(parse_time(e)?));
            if e <= s {
                bail!("--end is not after --start");
            }
            report.between(s, e)
        }
        (_, _, Some(last)) => report.last(parse_duration(last)?.as_secs().max(1)),
        _ => report,
    };
    let s = write_report(&store, &report, &args.out)?;
    eprintln!("{}", report_note(&args.out, &s));
    Ok(ExitCode::SUCCESS)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Replay(a) => cmd_replay(&a),
        Command::Query(a) => cmd_query(&a),
        Command::QueryRange(a) => cmd_query_range(&a),
        Command::Series(a) => cmd_series(&a),
        Command::Export(a) => cmd_export(&a),
        Command::Check(a) => cmd_check(&a),
        Command::Alerts(a) => alerts::cmd_alerts(&a),
        Command::Slo(a) => alerts::cmd_slo(&a),
        Command::Report(a) => cmd_report(&a),
        Command::Serve(a) => serve::cmd_serve(&a),
        Command::Grafana(a) => serve::cmd_grafana(&a),
    };
    match r {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tailstore: {e:#}");
            ExitCode::from(2)
        }
    }
}
