//! `tailstore replay`: read traffic files, parse in parallel, record into a store.
//!
//! One reader thread fills 4 MiB blocks that end at a line boundary and
//! sends them over a bounded channel to one parser thread per core. Each
//! parser splits lines with `memchr`, parses them without allocating
//! (series names are borrowed from the line), and records straight into the
//! store through cached `Series` handles: recording is lock-free and every
//! thread has its own shard, so parsers never wait for each other.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tailstore::{Series, Store};
use tailstore_ingest::{detect, Format, Parser, ParserOptions};

/// Bytes per block handed to a parser thread.
const BLOCK: usize = 4 << 20;
/// Bad lines printed on stderr.
const SHOWN_ERRORS: usize = 10;

/// A bad line: where and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BadLine {
    /// Index of the file in the argument list.
    pub file: usize,
    /// 1-based line number.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// Counters of one replay.
#[derive(Debug, Default)]
pub struct Totals {
    /// Lines read (including blank and comment lines).
    pub lines: u64,
    /// Requests recorded.
    pub ingested: u64,
    /// Lines that did not parse.
    pub bad: u64,
    /// Requests without a known latency (counted in rate/status only).
    pub unknown_latency: u64,
    /// First and last request second.
    pub first_ts: Option<u64>,
    /// Last request second.
    pub last_ts: Option<u64>,
    /// Distinct series recorded.
    pub series: usize,
    /// The first bad lines, in file and line order.
    pub errors: Vec<BadLine>,
}

struct Block {
    file: usize,
    first_line: u64,
    parser: Arc<Parser>,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct WorkerTotals {
    lines: u64,
    ingested: u64,
    bad: u64,
    unknown_latency: u64,
    first_ts: Option<u64>,
    last_ts: Option<u64>,
    errors: Vec<BadLine>,
    series: Vec<String>,
}

/// Opens a file (or `-` for stdin), decompressing `.gz` and `.zst`.
fn open_input(path: &Path) -> Result<Box<dyn Read + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    Ok(match ext {
        "gz" => Box::new(flate2::read::MultiGzDecoder::new(f)),
        "zst" | "zstd" => Box::new(
            zstd::stream::read::Decoder::new(f)
                .with_context(|| format!("{}: not a zstd stream", path.display()))?,
        ),
        _ => Box::new(f),
    })
}

/// Reads `r` fully into `buf` up to `BLOCK` bytes (fewer only at the end).
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, path: &Path) -> Result<bool> {
    let start = buf.len();
    buf.resize(start + BLOCK, 0);
    let mut n = start;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
    buf.truncate(n);
    Ok(n > start)
}

fn lines_of(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let line = &bytes[pos..end];
        pos = end + 1;
        Some(line)
    })
}

/// What the reader decided for a file: its parser, and whether line 1 is a header.
fn parser_for(
    first: &[u8],
    format: Option<&Format>,
    opts: ParserOptions,
    path: &Path,
) -> Result<(Arc<Parser>, bool)> {
    let sample: Vec<&[u8]> =
        lines_of(first).filter(|l| !l.iter().all(u8::is_ascii_whitespace)).take(20).collect();
    let format = match format {
        Some(f) => f.clone(),
        None => match detect(&sample) {
            Some(f) => f,
            None if sample.is_empty() => Format::Jsonl, // empty file: nothing to parse
            None => bail!(
                "{}: cannot detect the format from its first lines; give --format (jsonl, csv, nginx, ingress-nginx, alb) or --log-format",
                path.display()
            ),
        },
    };
    if Parser::needs_header(&format) {
        let header = lines_of(first).next().unwrap_or(&[]);
        let p = Parser::new(&format, Some(header), opts)
            .with_context(|| format!("{}: bad CSV header", path.display()))?;
        Ok((Arc::new(p), true))
    } else {
        let p = Parser::new(&format, None, opts).with_context(|| path.display().to_string())?;
        Ok((Arc::new(p), false))
    }
}

fn work(
    store: &Store,
    rx: crossbeam_channel::Receiver<Block>,
    progress: &AtomicU64,
) -> WorkerTotals {
    let mut t = WorkerTotals::default();
    // A fast hash: the lookup runs once per line.
    let mut cache: rustc_hash::FxHashMap<String, Series> = rustc_hash::FxHashMap::default();
    for block in rx {
        for (line_no, line) in (block.first_line..).zip(lines_of(&block.bytes)) {
            t.lines += 1;
            match block.parser.parse(line) {
                Ok(Some(r)) => {
                    let s = match cache.get(r.series.as_ref()) {
                        Some(s) => s,
                        None => {
                            t.series.push(r.series.to_string());
                            cache
                                .entry(r.series.to_string())
                                .or_insert_with(|| store.series(&r.series))
                        }
                    };
                    match r.latency_ns {
                        Some(ns) => s.record_at_unix(r.ts_s, ns, r.status),
                        None => {
                            t.unknown_latency += 1;
                            s.record_status_at_unix(r.ts_s, r.status);
                        }
                    }
                    t.ingested += 1;
                    t.first_ts = Some(t.first_ts.map_or(r.ts_s, |f| f.min(r.ts_s)));
                    t.last_ts = Some(t.last_ts.map_or(r.ts_s, |l| l.max(r.ts_s)));
                }
                Ok(None) => {}
                Err(e) => {
                    t.bad += 1;
                    if t.errors.len() < SHOWN_ERRORS {
                        t.errors.push(BadLine {
                            file: block.file,
                            line: line_no,
                            reason: e.reason,
                        });
                    }
                }
            }
        }
        progress.fetch_add(block.bytes.len() as u64 + 1, Relaxed);
    }
    t
}

/// Replays `files` into `store`.
pub fn replay(
    store: &Store,
    files: &[PathBuf],
    format: Option<&Format>,
    opts: ParserOptions,
) -> Result<Totals> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(1);
    let (tx, rx) = crossbeam_channel::bounded::<Block>(threads * 2);
    let progress = AtomicU64::new(0);
    let total_bytes: u64 = files
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total_bytes);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let results = std::thread::scope(|sc| -> Result<Vec<WorkerTotals>> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                let progress = &progress;
                sc.spawn(move || work(store, rx, progress))
            })
            .collect();
        drop(rx);
        let ticker = bar.as_ref().map(|b| {
            let b = b.clone();
            let progress = &progress;
            sc.spawn(move || {
                while !b.is_finished() {
                    b.set_position(progress.load(Relaxed));
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            })
        });
        let read = (|| -> Result<()> {
            for (fi, path) in files.iter().enumerate() {
                let mut input = open_input(path)?;
                let mut buf = Vec::with_capacity(BLOCK + 4096);
                let mut parser: Option<Arc<Parser>> = None;
                let mut line_no = 1u64;
                loop {
                    let more = fill(&mut *input, &mut buf, path)?;
                    if buf.is_empty() {
                        break;
                    }
                    if parser.is_none() {
                        let (p, header) = parser_for(&buf, format, opts, path)?;
                        if header {
                            let end = memchr::memchr(b'\n', &buf).map_or(buf.len(), |i| i + 1);
                            buf.drain(..end);
                            line_no += 1;
                        }
                        parser = Some(p);
                    }
                    // Cut at the last newline; keep the tail for the next block.
                    let cut = if more {
                        match memchr::memrchr(b'\n', &buf) {
                            Some(i) => i + 1,
                            None if buf.len() < 256 << 20 => continue, // a very long line: read more
                            None => bail!("{}: a line longer than 256 MiB", path.display()),
                        }
                    } else {
                        buf.len()
                    };
                    let rest = buf.split_off(cut);
                    let mut bytes = std::mem::replace(&mut buf, rest);
                    if bytes.last() == Some(&b'\n') {
                        bytes.pop();
                    }
                    let n_lines = memchr::memchr_iter(b'\n', &bytes).count() as u64 + 1;
                    let p = parser.clone().expect("set before the first block");
                    if tx.send(Block { file: fi, first_line: line_no, parser: p, bytes }).is_err() {
                        bail!("parser threads stopped early");
                    }
                    line_no += n_lines;
                    if !more {
                        break;
                    }
                }
            }
            Ok(())
        })();
        drop(tx);
        let mut out = Vec::new();
        for w in workers {
            out.push(w.join().map_err(|_| anyhow::anyhow!("a parser thread panicked"))?);
        }
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        if let Some(t) = ticker {
            let _ = t.join();
        }
        read?;
        Ok(out)
    })?;
    let mut totals = Totals::default();
    let mut names: Vec<String> = Vec::new();
    for w in results {
        totals.lines += w.lines;
        totals.ingested += w.ingested;
        totals.bad += w.bad;
        totals.unknown_latency += w.unknown_latency;
        totals.first_ts = match (totals.first_ts, w.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        totals.last_ts = match (totals.last_ts, w.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        totals.errors.extend(w.errors);
        names.extend(w.series);
    }
    names.sort();
    names.dedup();
    totals.series = names.len();
    totals.errors.sort();
    totals.errors.truncate(SHOWN_ERRORS);
    Ok(totals)
}
