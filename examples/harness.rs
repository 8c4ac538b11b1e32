//! An open-loop benchmark of a model server: requests at a fixed rate from
//! a few worker threads, a stall injected in the server part-way, and the
//! P99 measured from the intended send times (corrected) beside the P99
//! measured from the actual sends (uncorrected).
//!
//! ```text
//! cargo run --release -p tailstore-tower --example model_server -- --listen 127.0.0.1:0
//! cargo run --release -p tailstore-harness --example harness -- --target http://ADDR \
//!     [--model NAME] [--rate 200] [--duration 10] [--threads 4] \
//!     [--stall-ms 500] [--stall-at 3] [--hgrm run.hgrm] [--hlog run.hlog]
//! ```
//!
//! The server must answer `GET /models/{name}/predict` and, for the stall,
//! `POST /admin/stall?ms=N` (every predict request arriving in the next N
//! ms waits until the stall ends). `--stall-ms 0` injects none.
//! `--hgrm FILE` writes the corrected distribution to FILE and the
//! uncorrected one beside it (`FILE` with `.uncorrected` before its
//! extension); `--hlog FILE` writes both series, one-second intervals,
//! tagged `NAME` and `NAME:uncorrected`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tailstore::{Options, Store};
use tailstore_harness::{
    pieces_per_second, uncorrected_name, write_hgrm, write_hlog, HgrmOptions, OpenLoop, Summary,
};

struct Args {
    target: String,
    model: String,
    rate: f64,
    duration_s: f64,
    threads: usize,
    stall_ms: u64,
    stall_at_s: f64,
    hgrm: Option<PathBuf>,
    hlog: Option<PathBuf>,
}

const USAGE: &str = "usage: harness --target http://ADDR [--model NAME] [--rate REQ_PER_S] \
[--duration S] [--threads N] [--stall-ms MS] [--stall-at S] [--hgrm FILE] [--hlog FILE]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        target: String::new(),
        model: "demo".to_owned(),
        rate: 200.0,
        duration_s: 10.0,
        threads: 4,
        stall_ms: 500,
        stall_at_s: 3.0,
        hgrm: None,
        hlog: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--target" => value.trim_end_matches('/').clone_into(&mut a.target),
            "--model" => a.model = value,
            "--rate" => a.rate = value.parse().map_err(|e| bad(&e))?,
            "--duration" => a.duration_s = value.parse().map_err(|e| bad(&e))?,
            "--threads" => a.threads = value.parse().map_err(|e| bad(&e))?,
            "--stall-ms" => a.stall_ms = value.parse().map_err(|e| bad(&e))?,
            "--stall-at" => a.stall_at_s = value.parse().map_err(|e| bad(&e))?,
            "--hgrm" => a.hgrm = Some(PathBuf::from(value)),
            "--hlog" => a.hlog = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    if a.target.is_empty() {
        return Err(format!("--target is required\n{USAGE}"));
    }
    if !(a.rate.is_finite() && a.rate > 0.0 && a.rate <= 1e6) {
        return Err("--rate must be in (0, 1000000] requests per second".to_owned());
    }
    if !(a.duration_s.is_finite() && a.duration_s > 0.0 && a.duration_s <= 86_400.0) {
        return Err("--duration must be in (0, 86400] seconds".to_owned());
    }
    if !(a.stall_at_s.is_finite() && a.stall_at_s >= 0.0) {
        return Err("--stall-at must be a non-negative number of seconds".to_owned());
    }
    if a.threads == 0 {
        return Err("--threads must be at least 1".to_owned());
    }
    Ok(a)
}

/// The status of a ureq call: the response's, or 0 when none came.
fn status_of(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> u16 {
    match r {
        Ok(mut resp) => {
            // Read the body so the connection is reused.
            let _ = resp.body_mut().read_to_vec();
            resp.status().as_u16()
        }
        Err(ureq::Error::StatusCode(code)) => code,
        Err(_) => 0,
    }
}

/// `path` with `.uncorrected` before its extension.
fn uncorrected_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}.uncorrected.{}", ext.to_string_lossy()),
        None => format!("{stem}.uncorrected"),
    };
    path.with_file_name(name)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harness: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .proxy(None)
        .build()
        .into();
    let predict = format!("{}/models/{}/predict", args.target, args.model);
    let name = format!("/models/{}/predict", args.model);
    let store = Store::in_memory(Options::default());
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let t0 = SystemTime::now();
    let run = OpenLoop::new(&store, &name, interval)?;
    let total = run.schedule().count_within(Duration::from_secs_f64(args.duration_s));
    println!(
        "{total} requests to {predict}: {} req/s for {} s on {} threads (one every {:?}){}",
        args.rate,
        args.duration_s,
        args.threads,
        interval,
        if args.stall_ms > 0 {
            format!("; a {} ms stall at {} s", args.stall_ms, args.stall_at_s)
        } else {
            String::new()
        }
    );
    let stall_at = run.schedule().start() + Duration::from_secs_f64(args.stall_at_s);
    let stall_url = format!("{}/admin/stall?ms={}", args.target, args.stall_ms);
    let stall_status = std::thread::scope(|s| {
        let stall = (args.stall_ms > 0).then(|| {
            s.spawn(|| {
                std::thread::sleep(stall_at.saturating_duration_since(Instant::now()));
                status_of(agent.post(&stall_url).send_empty())
            })
        });
        run.run_workers(args.threads, total, |_| status_of(agent.get(&predict).call()));
        stall.map(|h| h.join().unwrap_or(0))
    });
    if let Some(code) = stall_status.filter(|c| *c != 204) {
        eprintln!(
            "harness: warning: POST {stall_url} answered {code}, not 204: no stall injected?"
        );
    }
    let end = SystemTime::now();
    let sum = Summary::query(&store, &name, t0, end)?;
    println!();
    sum.write_table(&mut std::io::stdout().lock())?;
    let ok = sum.uncorrected().status_counts().get(200);
    if ok < total {
        println!("\n{} of {total} requests did not answer 200", total - ok);
    }
    if let (Some(c), Some(u)) = (sum.corrected().quantile(0.99), sum.uncorrected().quantile(0.99)) {
        println!(
            "\nP99 corrected {:.1} ms, uncorrected {:.1} ms ({:.1}x)",
            c.as_secs_f64() * 1e3,
            u.as_secs_f64() * 1e3,
            c.as_secs_f64() / u.as_secs_f64().max(1e-9)
        );
    }
    if let Some(path) = &args.hgrm {
        for (p, w) in [(path.clone(), sum.corrected()), (uncorrected_path(path), sum.uncorrected())]
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&p)?);
            write_hgrm(&mut f, w, &HgrmOptions::default())?;
            f.flush()?;
            println!("wrote {}", p.display());
        }
    }
    if let Some(path) = &args.hlog {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (a, b) = (secs(t0), secs(end) + 1);
        let all = vec![
            pieces_per_second(&store, &name, a, b)?,
            pieces_per_second(&store, &uncorrected_name(&name), a, b)?,
        ];
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        let n = write_hlog(&mut f, &all, &store.layout(), true)?;
        f.flush()?;
        println!("wrote {} ({n} intervals)", path.display());
    }
    Ok(())
}
