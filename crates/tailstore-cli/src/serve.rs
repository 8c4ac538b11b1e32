//! `tailstore serve`: the store's `/metrics` for Prometheus, and the
//! Prometheus query API over it (`/api/v1/…`, `docs/PROMQL.md`), through the
//! embeddable server of `tailstore-prometheus`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use tailstore::{Options, Selector, Store};
use tailstore_prometheus::{serve_reopening, Exposition, Names, ServerOptions};

/// How old the served store may be before a scrape opens it again.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

#[derive(Args)]
pub struct ServeArgs {
    /// Store directory (opened read-only, and again by a scrape a second or more after the
    /// last opening, so a writer may keep appending to it).
    #[arg(long)]
    store: PathBuf,
    /// Address to listen on; port 0 picks a free one. Another interface than
    /// the loopback has to be named here explicitly.
    #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR")]
    listen: String,
    /// Metric and label names: tailstore (own names, a series label) or ingress-nginx
    /// (ingress-nginx's metric names, a path label, its default buckets), under which
    /// dashboards and queries written for ingress-nginx work unchanged.
    #[arg(long, default_value = "tailstore", value_name = "PRESET")]
    names: String,
    /// Only the series whose whole name matches this regex (default: every series).
    #[arg(long = "match", value_name = "REGEX")]
    pattern: Option<String>,
    /// Histogram bucket bounds in seconds, comma-separated (default: the preset's).
    #[arg(long, value_name = "LE,LE,...")]
    buckets: Option<String>,
    /// Require the header Authorization: Bearer TOKEN (on /metrics and the /api/v1/ query
    /// API alike), the token read from this file (surrounding whitespace ignored).
    #[arg(long, value_name = "FILE")]
    auth_token_file: Option<PathBuf>,
    /// Worker threads answering scrapes and queries (more requests wait in a queue of 16,
    /// then are answered 503).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A label every gauge carries in the query API, NAME=VALUE (repeatable), e.g.
    /// pod=model-fraud-7d9f, so that selectors written for cAdvisor's metrics
    /// (`container_memory_usage_bytes{pod=~"model-.*"}`) select the store's gauges.
    #[arg(long = "gauge-label", value_name = "NAME=VALUE")]
    gauge_labels: Vec<String>,
    /// Rule file (as `tailstore alerts`): every scrape of /metrics adds the alerts pending or
    /// firing at the store's newest data as Prometheus's ALERTS series (its rules evaluated
    /// over the recent history, as `tailstore alerts` backtests them).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
}

/// The alerts pending or firing at the newest data of a store: `rules`
/// backtested over the history that decides them (each rule's `for` and
/// `keep_firing_for`, and two evaluation intervals), the episodes still
/// open at its end.
fn alert_source(rules: tailstore_rules::Rules) -> tailstore_prometheus::AlertSource {
    let interval = rules.evaluation_interval_s();
    let lookback =
        rules.rules().iter().map(|r| r.for_s() + r.keep_firing_for_s()).max().unwrap_or(0)
            + 2 * interval;
    std::sync::Arc::new(move |store: &Store| {
        let end = store.stats().newest_s.saturating_add(1);
        match tailstore_rules::backtest(store, &rules, end.saturating_sub(lookback), end) {
            Ok(bt) => bt
                .episodes
                .into_iter()
                .filter(|e| e.resolved_at.is_none())
                .map(|e| tailstore_prometheus::ActiveAlert {
                    alertname: e.rule,
                    labels: e.labels,
                    firing: e.firing_at.is_some(),
                })
                .collect(),
            Err(e) => {
                eprintln!("tailstore serve: evaluating the rules: {e}");
                Vec::new()
            }
        }
    })
}

pub fn cmd_serve(args: &ServeArgs) -> Result<ExitCode> {
    let names = Names::parse(&args.names).context("--names")?;
    let mut exposition = Exposition::new(names);
    if let Some(p) = &args.pattern {
        exposition = exposition.selector(Selector::regex(p)?);
    }
    if let Some(b) = &args.buckets {
        let bounds = b
            .split(',')
            .map(|v| v.trim().parse::<f64>().with_context(|| format!("--buckets: {v:?}")))
            .collect::<Result<Vec<_>>>()?;
        exposition = exposition.buckets(&bounds).context("--buckets")?;
    }
    let token = match &args.auth_token_file {
        Some(f) => {
            let t = std::fs::read_to_string(f)
                .with_context(|| format!("--auth-token-file {}", f.display()))?;
            let t = t.trim();
            if t.is_empty() {
                bail!("--auth-token-file {}: the file holds no token", f.display());
            }
            Some(t.to_string())
        }
        None => None,
    };
    // Checked first, for the CLI's usual message about a missing store.
    drop(crate::open_store(&args.store)?);
    let mut labels: Vec<(String, String)> = Vec::new();
    for l in &args.gauge_labels {
        let Some((name, value)) = l.split_once('=') else {
            bail!("--gauge-label {l:?}: expected NAME=VALUE");
        };
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with("__");
        if !valid || labels.iter().any(|(n, _)| n == name) {
            bail!(
                "--gauge-label {l:?}: {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not \
                 starting with __) or is given twice"
            );
        }
        labels.push((name.to_string(), value.to_string()));
    }
    let mut opts = ServerOptions::new(exposition)
        .threads(args.threads)
        .auth_token(token)
        .gauge_labels(&labels);
    if let Some(path) = &args.rules {
        let rules = tailstore_rules::Rules::from_path(path)
            .with_context(|| format!("--rules {}", path.display()))?;
        opts = opts.alerts(alert_source(rules));
    }
    let dir = args.store.clone();
    // Opened again (its flushed history, in time of the open) by the first
    // scrape a second after the last opening, so a writer's news show.
    let open = move || Store::open_read_only(&dir, Options::default().keep_everything());
    let server = serve_reopening(open, REOPEN_AFTER, args.listen.as_str(), opts)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{}", server.local_addr())?;
    out.flush()?;
    drop(out);
    // Until killed: the store is read-only, so a signal's default action
    // (exit) loses nothing.
    loop {
        std::thread::park();
    }
}

#[derive(Args)]
pub struct GrafanaArgs {
    /// The Prometheus data source's uid in the Grafana that imports the dashboard.
    #[arg(long, default_value = "prometheus", value_name = "UID")]
    datasource_uid: String,
    /// Metric and label names the fleet's Prometheus scrapes (`serve --names`):
    /// ingress-nginx or tailstore.
    #[arg(long, default_value = "ingress-nginx", value_name = "PRESET")]
    names: String,
    /// The endpoints the `$series` variable offers: a regex over the series label.
    #[arg(long = "match", value_name = "REGEX", default_value = ".*")]
    pattern: String,
    /// The default of the `$pod` variable of the CPU and memory panels.
    #[arg(long, value_name = "REGEX", default_value = "model-.*")]
    pods: String,
    /// Dashboard title.
    #[arg(long, default_value = "Model Endpoint Monitoring")]
    title: String,
    /// Where to write the dashboard JSON (`-` for standard output).
    #[arg(long)]
    out: PathBuf,
}

/// `tailstore grafana`: a Grafana dashboard of the guide's panels over the
/// names `serve` exposes.
pub fn cmd_grafana(a: &GrafanaArgs) -> Result<ExitCode> {
    let names = Names::parse(&a.names).map_err(|e| anyhow::anyhow!("--names: {e}"))?;
    regex_check(&a.pattern)?;
    let o = tailstore_prometheus::grafana::DashboardOptions {
        names,
        datasource_uid: a.datasource_uid.clone(),
        series_regex: a.pattern.clone(),
        pod_regex: a.pods.clone(),
        title: a.title.clone(),
    };
    let json = tailstore_prometheus::grafana::dashboard(&o);
    let text = format!("{json:#}\n");
    if a.out.as_os_str() == "-" {
        std::io::stdout().write_all(text.as_bytes()).context("writing the dashboard")?;
    } else {
        std::fs::write(&a.out, text)
            .with_context(|| format!("cannot write {}", a.out.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A `--match` regex must compile (as the store's selectors do).
fn regex_check(pattern: &str) -> Result<()> {
    Selector::regex(pattern).map(|_| ()).map_err(|e| anyhow::anyhow!("--match: {e}"))
}
