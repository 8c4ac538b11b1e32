//! Micro-benchmark of `Parser::parse`: generates ~1 M lines per format in
//! memory and prints ns per line (each block of lines at its fastest pass).
//!
//! `cargo run --release -p tailstore-ingest --example parse_bench [lines] [format]`

use std::hint::black_box;
use std::time::Instant;

use tailstore_ingest::{Format, Parser, ParserOptions};

const ENDPOINTS: [&str; 4] =
    ["/models/fraud-v2/predict", "/models/rank-v7/score", "/healthz", "/v1/embed?batch=8"];
const STATUSES: [u16; 5] = [200, 200, 200, 404, 503];

/// A small deterministic generator (xorshift).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn lines(format: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 120);
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..n {
        let r = next(&mut s);
        let ts = 1_764_547_200 + (i / 1000) as u64;
        let ep = ENDPOINTS[(r % 4) as usize];
        let status = STATUSES[((r >> 8) % 5) as usize];
        let (ms, frac) = ((r >> 16) % 900, (r >> 32) % 1000);
        let line = match format {
            "csv" => format!("{ts},{ep},{ms}.{frac:03},{status}"),
            "jsonl" => format!(
                "{{\"ts\":{ts},\"endpoint\":\"{ep}\",\"latency_ms\":{ms}.{frac:03},\"status\":{status}}}"
            ),
            "nginx" => format!(
                "203.0.113.{} - - [01/Dec/2025:00:{:02}:{:02} +0000] \"GET {ep} HTTP/1.1\" {status} 512 \"-\" \"python-requests/2.31\" 0.{ms:03}",
                r % 250,
                (i / 60_000) % 60,
                (i / 1000) % 60
            ),
            _ => format!(
                "10.0.0.{} - - [01/Dec/2025:00:{:02}:{:02} +0000] \"POST {ep} HTTP/1.1\" {status} 61 \"-\" \"curl/8.5\" 348 0.{ms:03} [default-model-8080] [] 10.1.0.6:8080 61 0.{ms:03} {status} 835136aef1",
                r % 250,
                (i / 60_000) % 60,
                (i / 1000) % 60
            ),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Lines per timed block. Each pass is timed in blocks of lines, and each
/// block keeps its fastest pass: a burst of noise from elsewhere on the
/// machine spoils one block of one pass, not the figure.
const BLOCK: usize = 20_000;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let only = std::env::args().nth(2);
    for format in [Format::Csv, Format::Jsonl, Format::Nginx, Format::IngressNginx] {
        let name = format.to_string();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let text = lines(&name, n);
        let all: Vec<&[u8]> = text.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
        let header: &[u8] = b"ts,endpoint,latency_ms,status";
        let parser = Parser::new(&format, Some(header), ParserOptions::default())
            .expect("the parser builds");
        let blocks: Vec<&[&[u8]]> = all.chunks(BLOCK).collect();
        let mut best = vec![f64::INFINITY; blocks.len()];
        let mut check = 0u64;
        for _ in 0..9 {
            let mut sum = 0u64;
            for (block, best) in blocks.iter().zip(best.iter_mut()) {
                let start = Instant::now();
                for line in *block {
                    let req = parser.parse(black_box(line)).expect("generated lines parse");
                    let req = req.expect("no blank lines");
                    sum = sum
                        .wrapping_add(req.latency_ns.unwrap_or(0))
                        .wrapping_add(req.ts_s)
                        .wrapping_add(u64::from(req.status))
                        .wrapping_add(req.series.len() as u64);
                }
                *best = best.min(start.elapsed().as_secs_f64());
            }
            check = black_box(sum);
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "a count of lines held in memory (about 100 bytes each) is far below 2^52"
        )]
        let best = best.iter().sum::<f64>() * 1e9 / all.len() as f64;
        println!("{name:>14}: {best:7.1} ns/line  ({} lines, checksum {check})", all.len());
    }
}
