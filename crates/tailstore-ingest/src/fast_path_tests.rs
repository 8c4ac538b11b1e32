//! The fast paths against the general paths they stand in front of.
//!
//! Every fast path here either gives up (and the general path decides) or
//! gives the general path's answer. Each layer is checked on its own, on
//! hand-picked tricky inputs and on many generated ones:
//!
//! * numbers: `num::decimal_scaled_fast` against the original decimal
//!   parser (`decimal_scaled_general`), and the unix-seconds fast path of
//!   `time` against the original conversion built on it;
//! * field names: the perfect-hash `classify` against the original table walk;
//! * field values: the inlined common cases of `time_of`, `series_of`,
//!   `latency_of` and `status_of` against their general parts;
//! * lines: the CSV and JSONL fast paths against the general line parsers
//!   (quoted cells with commas, `""`, CRLF, empty cells, exponents, escapes,
//!   nesting, duplicates, whitespace, invalid UTF-8, and random mutations of
//!   well-formed lines), whole results and error messages included.

use crate::csv::CsvConfig;
use crate::fields::{self, Escape, Value};
use crate::jsonl::{self, JsonConfig};
use crate::num::{self, show, NumError, NS_PER_MS, NS_PER_S, NS_PER_US};
use crate::time::{self, Timestamp};
use crate::{Format, Parser, ParserOptions, SeriesBy};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    #[expect(clippy::cast_possible_truncation, reason = "the remainder is below `n`, a `usize`")]
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Every string of up to `max_len` bytes over `alphabet`.
fn all_strings(alphabet: &[u8], max_len: usize) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    let mut layer = vec![Vec::new()];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for s in &layer {
            for &c in alphabet {
                let mut t = s.clone();
                t.push(c);
                next.push(t);
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

const UNITS: [u64; 7] = [1, NS_PER_US, NS_PER_MS, NS_PER_S, 7, 1_000_000_007, 0];

/// Tricky numbers: digit counts around 8, 16, 19 and 20, leading zeros,
/// points at the ends, signs, exponents, overflow, junk.
fn tricky_numbers() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "42.137",
        "1764547200",
        "1764547200.5",
        "1764547200.123456789",
        "1764547200.1234567891",
        "0.138",
        "0.000036",
        "0.0000000019",
        ".5",
        "5.",
        ".",
        "-",
        "+",
        "-0",
        "-0.000",
        "+0",
        "-5",
        "+2",
        "-.0",
        "00000000000000000042",
        "0000000000000000000.1",
        "1234567890123456789",
        "12345678901234567890",
        "1234567890.123456789",
        "1234567890.1234567890",
        "18446744073",
        "18446744073.709551615",
        "18446744073.709551616",
        "18446744074",
        "99999999999999999999",
        "1e3",
        "1E3",
        "1.5e-3",
        "15e-1",
        "1e",
        "0e400",
        "1e-400",
        "1.2.3",
        " 1",
        "1 ",
        "0x10",
        "NaN",
        "12345678",
        "123456789",
        "12345678.12345678",
        "1234567a",
        "12345678a",
        "1\u{0}",
        "٣",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    for _ in 0..20_000 {
        let mut s = Vec::new();
        match rng.below(4) {
            0 => s.push(b'-'),
            1 => s.push(b'+'),
            _ => {}
        }
        for _ in 0..rng.below(22) {
            s.push(*rng.pick(b"0123456789"));
        }
        if rng.below(3) > 0 {
            s.push(b'.');
            for _ in 0..rng.below(22) {
                s.push(*rng.pick(b"0123456789"));
            }
        }
        if rng.below(20) == 0 {
            let at = rng.below(s.len() + 1);
            s.insert(at, *rng.pick(b"eE.+- x"));
        }
        v.push(s);
    }
    v.extend(all_strings(b"019.-+e", 5));
    v
}

#[test]
fn decimal_fast_path_is_the_general_parser() {
    let mut answered = 0usize;
    for s in tricky_numbers() {
        for unit in UNITS {
            let general = num::decimal_scaled_general(&s, unit);
            if let Some(fast) = num::decimal_scaled_fast(&s, unit) {
                assert_eq!(fast, general, "`{}` unit {unit}", show(&s));
                answered += 1;
            }
            assert_eq!(num::decimal_scaled(&s, unit), general, "`{}` unit {unit}", show(&s));
        }
    }
    assert!(answered > 50_000, "the fast path answered only {answered} times");
    // The figures the fast path exists for.
    assert_eq!(num::decimal_scaled_fast(b"42.137", NS_PER_MS), Some(Ok(42_137_000)));
    assert_eq!(
        num::decimal_scaled_fast(b"1764547200", NS_PER_S),
        Some(Ok(1_764_547_200 * NS_PER_S))
    );
    assert_eq!(num::decimal_scaled_fast(b"0.123456789", NS_PER_S), Some(Ok(123_456_789)));
    assert_eq!(num::decimal_scaled_fast(b"1.123456789", NS_PER_MS), Some(Ok(1_123_456)));
    assert_eq!(num::decimal_scaled_fast(b"-3", NS_PER_MS), Some(Err(NumError::Negative)));
    assert_eq!(num::decimal_scaled_fast(b"1e3", NS_PER_MS), None);
}

/// The unix-seconds conversion as it was: the general decimal parser, then
/// seconds and nanoseconds.
fn unix_seconds_reference(s: &[u8]) -> Result<Timestamp, String> {
    match num::decimal_scaled_general(s, NS_PER_S) {
        Ok(ns) => {
            Ok(Timestamp { secs: ns / NS_PER_S, nanos: u32::try_from(ns % NS_PER_S).unwrap() })
        }
        Err(NumError::Negative) => Err(format!("time `{}`: before 1970-01-01T00:00:00Z", show(s))),
        Err(NumError::Overflow) => Err(format!(
            "time `{}`: after 2554-07-21T23:34:33.709551615Z, the latest time accepted \
             (nanoseconds since 1970 in 64 bits)",
            show(s)
        )),
        Err(e) => Err(format!("time `{}` is not unix seconds: {e}", show(s))),
    }
}

/// `time::parse_any` as it was.
fn parse_any_reference(s: &[u8]) -> Result<Timestamp, String> {
    let looks_numeric = s.get(4) != Some(&b'-')
        && s.iter().all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if looks_numeric {
        unix_seconds_reference(s)
    } else {
        time::parse_rfc3339(s)
    }
}

#[test]
fn unix_seconds_fast_path_is_the_general_conversion() {
    let mut inputs = tricky_numbers();
    inputs.extend(
        ["2024-05-28T13:46:45.123Z", "2015-09-10 17:57:59", "1234-", "-123-4", "1970"]
            .iter()
            .map(|s| s.as_bytes().to_vec()),
    );
    let mut answered = 0usize;
    for s in &inputs {
        let reference = unix_seconds_reference(s);
        if let Some(ts) = time::unix_seconds_fast(s) {
            assert_eq!(Ok(ts), reference, "`{}`", show(s));
            answered += 1;
        }
        assert_eq!(time::parse_unix_seconds(s), reference, "`{}`", show(s));
        assert_eq!(time::parse_any(s), parse_any_reference(s), "`{}`", show(s));
    }
    assert!(answered > 5_000, "the fast path answered only {answered} times");
}

#[test]
fn perfect_hash_classify_is_the_table_walk() {
    let names = [
        "ts",
        "timestamp",
        "time",
        "endpoint",
        "path",
        "series",
        "host",
        "upstream",
        "latency_ms",
        "latency_us",
        "latency_s",
        "duration_ms",
        "status",
        "status_code",
    ];
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for n in names {
        let b = n.as_bytes();
        inputs.push(b.to_vec());
        inputs.push(b.to_ascii_uppercase());
        inputs.push(
            b.iter()
                .enumerate()
                .map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { *c })
                .collect(),
        );
        inputs.push([b, b"x"].concat());
        inputs.push([b"x", b].concat());
        inputs.push(b[..b.len() - 1].to_vec());
        inputs.push([b, b"\0"].concat());
        inputs.push([b, b" "].concat());
        // Bytes that differ from a letter only in bit 5 or bit 7.
        inputs.push(b.iter().map(|c| c ^ 0x80).collect());
        inputs.push(b.iter().map(|c| if *c == b'_' { b'\x7f' } else { *c }).collect());
        inputs.push(b.iter().map(|c| if *c == b's' { b'S' ^ 0x80 } else { *c }).collect());
    }
    inputs.extend(all_strings(b"tsTS_", 4));
    let mut rng = Rng(77);
    for _ in 0..20_000 {
        let len = rng.below(14);
        inputs.push((0..len).map(|_| *rng.pick(b"tsimepaduryhoclnT_\x80\xc3\0")).collect());
    }
    for by in [SeriesBy::Path, SeriesBy::Host, SeriesBy::Upstream] {
        for name in &inputs {
            let want = fields::classify_by_table(name, by);
            assert_eq!(fields::classify(name, by), want, "`{}` {by:?}", show(name));
            // Inside a longer line, at its end, and in a short buffer.
            for (before, after) in
                [(&b"{\""[..], &b"\":1,\"x\":2}"[..]), (b"abcdefgh,", b""), (b"", b"\"")]
            {
                let hay = [before, name, after].concat();
                let (start, end) = (before.len(), before.len() + name.len());
                assert_eq!(
                    fields::classify_in(&hay, start, end, by),
                    want,
                    "`{}` in `{}`",
                    show(name),
                    show(&hay)
                );
            }
        }
    }
}

#[test]
fn inlined_field_conversions_are_the_general_ones() {
    let mut raws = tricky_numbers();
    raws.truncate(3_000);
    raws.extend(
        [
            "/a?b",
            "/",
            "",
            "-",
            "200",
            "20",
            "2000",
            "20x",
            " 200",
            "200 ",
            "abc",
            "/caf\u{e9}",
            "2024-05-28T13:46:45Z",
            "\u{ff}",
            "?x",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec()),
    );
    raws.push(b"/\xff\xfe?q".to_vec());
    for raw in &raws {
        let mut values = vec![
            Value::Text(raw, Escape::None),
            Value::Text(raw, Escape::Json),
            Value::Text(raw, Escape::Csv),
            Value::Number(raw),
        ];
        values.extend([Value::Null, Value::Other("a boolean")]);
        for v in values {
            assert_eq!(fields::time_of(v, "ts"), fields::time_of_general(v, "ts"), "{v:?}");
            assert_eq!(fields::series_of(v, "path"), fields::series_of_general(v, "path"), "{v:?}");
            assert_eq!(
                fields::status_of(v, "status"),
                fields::status_of_general(v, "status"),
                "{v:?}"
            );
            assert_eq!(num::status(raw), num::status_general(raw), "{v:?}");
            for unit in [NS_PER_US, NS_PER_MS, NS_PER_S] {
                assert_eq!(
                    fields::latency_of(v, "latency_ms", unit),
                    fields::latency_of_general(v, "latency_ms", unit),
                    "{v:?}"
                );
            }
        }
    }
}

const CSV_HEADERS: [&str; 5] = [
    "ts,endpoint,latency_ms,status",
    "host,ts,endpoint,status,latency_ms,bytes",
    "time,\"path\",status_code,latency_us",
    "status, latency_s ,path,timestamp",
    "ts,path,status",
];

/// Tricky CSV lines for the headers above.
fn csv_lines() -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = [
        "1764547200,/models/fraud-v2/predict,42.137,200",
        "1764547200.25,/x?q=1,0.5,404",
        "1764547200,\"/a,b\",1.5,200",
        "1764547200,\"/a,\"\"b\"\"\",1.5,200",
        "\"1764547200\",/a,\"2\",\"503\"",
        " 1764547200 , /a , 3 , 200 ",
        "\t1764547200\t,\t/a\t,\t3\t,\t200\t",
        "1764547200,/a,3,200\r",
        "1764547200\r,/a\r,3\r,200\r",
        ",/a,3,200",
        "1764547200,,3,200",
        "1764547200,/a,,200",
        "1764547200,/a,3,",
        "1764547200,/a,-,200",
        "1764547200,/a,-1,200",
        "1764547200,/a,-0,200",
        "1764547200,/a,1e3,200",
        "1764547200,/a,1.5E-3,200",
        "1.7645472e9,/a,3,200",
        "-1,/a,3,200",
        "-0,/a,3,200",
        "2024-05-28T13:46:45Z,/a,3,200",
        "2024-05-28T13:46:45.5+02:00,/a,3,200",
        "1764547200,/a,3,-",
        "1764547200,/a,3,20",
        "1764547200,/a,3,2000",
        "1764547200,/a,3,20x",
        "1764547200,/a,3",
        "1764547200,/a",
        "1764547200",
        "",
        "1764547200,/a,3,200,extra,\"q\"",
        "1764547200,/a,3,200,\"unclosed",
        "1764547200,\"/a\"x,3,200",
        "1764547200,\"/a,3,200",
        "1764547200,a\"b,3,200",
        "1764547200,\"\",3,200",
        "1764547200,checkout?v2,3,200",
        "1764547200,/caf\u{e9},3,200",
        "18446744074,/a,3,200",
        "1764547200,/a,18446744073709.551616,200",
        "1764547200,/a,0.0000000001,200",
        "1764547200,/a,3.123456789123,200",
        "ts,endpoint,latency_ms,status",
        "host,ts,endpoint,status,latency_ms,bytes",
        "h,1764547200,/a,200,3,9",
        "h,1764547200,/a,200",
        "200,3,/a,1764547200",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    lines.push(b"1764547200,/\xff\xfe,3,200".to_vec());
    lines.push(b"1764547200,\"/\xff\"\"\",3,200".to_vec());
    lines.extend(mutations(&lines.clone(), b",\"\r\t -.e0123456789/?a", 40_000, 5));
    lines
}

/// `count` random edits (insert, delete, replace with a byte of `alphabet`)
/// of the given lines, up to `max_edits` each.
fn mutations(base: &[Vec<u8>], alphabet: &[u8], count: usize, max_edits: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0xDEAD_BEEF_0BAD_F00D);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut line = rng.pick(base).clone();
        for _ in 0..=rng.below(max_edits) {
            let at = rng.below(line.len() + 1);
            match rng.below(3) {
                0 => line.insert(at, *rng.pick(alphabet)),
                1 if at < line.len() => {
                    line.remove(at);
                }
                _ if at < line.len() => line[at] = *rng.pick(alphabet),
                _ => {}
            }
        }
        out.push(line);
    }
    out
}

#[test]
fn csv_fast_path_is_the_general_path() {
    let lines = csv_lines();
    for header in CSV_HEADERS {
        for by in [SeriesBy::Path, SeriesBy::Host] {
            let Ok(cfg) = CsvConfig::new(header.as_bytes(), by) else {
                continue;
            };
            let mut answered = 0usize;
            for line in &lines {
                let general = cfg.parse_general(line);
                if let Some(fast) = cfg.parse_fast(line) {
                    assert_eq!(Ok(Some(fast)), general, "`{header}`: `{}`", show(line));
                    answered += 1;
                }
                assert_eq!(
                    cfg.parse(line),
                    {
                        // A repeat of the header is skipped before either path.
                        if line.trim_ascii() == header.as_bytes() {
                            Ok(None)
                        } else {
                            general
                        }
                    },
                    "`{header}`: `{}`",
                    show(line)
                );
            }
            assert!(answered > 100, "`{header}`: the fast path answered only {answered} times");
        }
    }
}

/// Tricky JSONL lines.
fn json_lines() -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = [
        r#"{"ts":1764547200,"endpoint":"/models/fraud-v2/predict","latency_ms":42.137,"status":200}"#,
        r#"{"ts":1764547200.5,"endpoint":"/x?q=1","latency_ms":0.5,"status":404}"#,
        r#" { "ts" : 1764547200 , "path" : "/a" , "latency_us" : 250 , "status_code" : 503 } "#,
        "{\t\"ts\"\t:\t1\t,\r\n\"path\":\"/a\",\"status\":200}",
        r#"{"TS":1,"PATH":"/a","STATUS":200,"Latency_MS":1.5}"#,
        r#"{"ts":"1764547200","path":"/a","status":"200","latency_ms":"3"}"#,
        r#"{"ts":"2024-05-28T13:46:45.123Z","path":"/a","status":200}"#,
        r#"{"time":"2024-05-28T13:46:45Z","ts":5,"path":"/a","status":200}"#,
        r#"{"time":"garbage","ts":5,"path":"/a","status":200}"#,
        r#"{"ts":5,"time":"garbage","path":"/a","status":200}"#,
        r#"{"series":"s","endpoint":"e","path":"p","ts":1,"status":200}"#,
        r#"{"ts":1,"ts":2,"path":"/a","path":"/b","status":200,"status":201}"#,
        r#"{"duration_ms":9,"latency_s":1,"latency_us":5,"latency_ms":2,"ts":1,"path":"/","status":200}"#,
        r#"{"latency_ms":null,"ts":1,"path":"/","status":200}"#,
        r#"{"latency_ms":"-","ts":1,"path":"/","status":200}"#,
        r#"{"latency_ms":"","ts":1,"path":"/","status":200}"#,
        r#"{"latency_ms":-4,"ts":1,"path":"/","status":200}"#,
        r#"{"latency_ms":-0,"ts":1,"path":"/","status":200}"#,
        r#"{"latency_ms":1e3,"ts":1,"path":"/","status":200}"#,
        r#"{"latency_ms":1.5E-3,"ts":1e9,"path":"/","status":200}"#,
        r#"{"latency_ms":true,"ts":1,"path":"/","status":200}"#,
        r#"{"latency_ms":false,"ts":1,"path":"/","status":null}"#,
        r#"{"latency_ms":{"a":1},"ts":1,"path":"/","status":200}"#,
        r#"{"meta":{"a":[1,{"b":"}]\""}],"c":null},"ts":1,"path":"/a","status":200}"#,
        r#"{"ts":1,"path":"/caf\u00e9?x","status":200}"#,
        r#"{"ts":1,"pa\u0074h":"/a","status":200}"#,
        r#"{"ts":1,"path":"/a\"b","status":200}"#,
        r#"{"ts":1,"path":"","status":200}"#,
        r#"{"ts":1,"path":"checkout?v2","status":200}"#,
        r#"{"ts":1,"path":7,"status":200}"#,
        r#"{"ts":-1,"path":"/","status":200}"#,
        r#"{"ts":18446744074,"path":"/","status":200}"#,
        r#"{"ts":1,"path":"/","status":20}"#,
        r#"{"ts":1,"path":"/","status":2000}"#,
        r#"{"ts":1,"path":"/","status":200.0}"#,
        r#"{"ts":1,"path":"/","status":"-"}"#,
        r#"{"ts":1,"path":"/","status":200,}"#,
        r#"{"ts":1,"path":"/","status":200} x"#,
        r#"{"ts":1,"path":"/","status":200"#,
        r#"{"ts":1,"path":"/,"status":200}"#,
        r#"{"ts":1,"path":"/"}"#,
        r#"{"ts":1 "path":"/","status":200}"#,
        r#"{"ts"1,"path":"/","status":200}"#,
        r#"{"ts":tru,"path":"/","status":200}"#,
        r#"{"ts":nul,"path":"/","status":200}"#,
        r#"{"ts":1,"path":"/","status":200,"x":-}"#,
        r#"{"ts":1,"path":"/","status":200,"x":+1}"#,
        r#"{"ts":1,"path":"/","status":200,"x":1-2e+.E}"#,
        r#"{"ts":1,"host":"h","upstream":"u","path":"/","status":200}"#,
        r"{}",
        r"[1,2]",
        r"{",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    lines.push(b"{\"ts\":1,\"path\":\"/\xff\xfe?q\",\"status\":200}".to_vec());
    lines.push(b"{\"ts\":1,\"p\xffth\":\"/\",\"status\":200}".to_vec());
    lines.extend(mutations(&lines.clone(), b"{}[]\":,\\ \t-.e0123456789/?nultrsa", 60_000, 4));
    lines
}

#[test]
fn jsonl_fast_path_is_the_general_path() {
    let lines = json_lines();
    for by in [SeriesBy::Path, SeriesBy::Host, SeriesBy::Upstream] {
        let cfg = JsonConfig { series_by: by };
        let mut answered = 0usize;
        for line in &lines {
            let general = jsonl::parse_general(cfg, line);
            if let Some(fast) = jsonl::parse_fast(cfg, line) {
                assert_eq!(Ok(fast), general, "{by:?}: `{}`", show(line));
                answered += 1;
            }
            assert_eq!(jsonl::parse(cfg, line), general.map(Some), "{by:?}: `{}`", show(line));
        }
        let floor = if by == SeriesBy::Path { 1_000 } else { 5 };
        assert!(answered > floor, "{by:?}: the fast path answered only {answered} times");
    }
}

#[test]
fn the_benchmark_lines_take_the_fast_paths() {
    let csv = CsvConfig::new(b"ts,endpoint,latency_ms,status", SeriesBy::Path).unwrap();
    let r = csv.parse_fast(b"1764547200,/models/fraud-v2/predict,42.137,200").unwrap();
    assert_eq!(
        (r.ts_s, r.ts_nanos, r.series.as_ref()),
        (1_764_547_200, 0, "/models/fraud-v2/predict")
    );
    assert_eq!((r.latency_ns, r.status), (Some(42_137_000), 200));
    let cfg = JsonConfig { series_by: SeriesBy::Path };
    let line = br#"{"ts":1764547200,"endpoint":"/models/fraud-v2/predict","latency_ms":42.137,"status":200}"#;
    assert_eq!(jsonl::parse_fast(cfg, line), Some(r));
    // And through the public parser, CRLF and all.
    let p = Parser::new(&Format::Jsonl, None, ParserOptions::default()).unwrap();
    let mut crlf = line.to_vec();
    crlf.extend_from_slice(b"\r");
    assert_eq!(p.parse(&crlf).unwrap().unwrap().latency_ns, Some(42_137_000));
}

#[test]
fn line_cleaning_is_unchanged() {
    fn clean_reference(line: &[u8]) -> &[u8] {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
    }
    fn blank_reference(line: &[u8]) -> bool {
        match line.iter().find(|c| !c.is_ascii_whitespace()) {
            None => true,
            Some(&c) => c == b'#',
        }
    }
    for line in all_strings(b" \t\r\n\x0c#a{\xef\xbb\xbf", 5) {
        assert_eq!(crate::clean_line(&line), clean_reference(&line), "{line:?}");
        assert_eq!(crate::is_blank_or_comment(&line), blank_reference(&line), "{line:?}");
    }
}
