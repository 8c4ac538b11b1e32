//! The replay ledger: which inputs a store already holds, and how far.
//!
//! `replay --store DIR` keeps `DIR/replays.jsonl`, one JSON object per line
//! (specified in `docs/FORMAT.md`, "Replay ledger"). An input is known by
//! its content, not its path: its *id* is the XXH3-128 of its first 64 KiB
//! (decompressed), and an entry says how many bytes of it were committed
//! (recorded and written to the store) with the XXH3-128 of those bytes.
//! Before recording, each regular file is looked up:
//!
//! * no entry with its id, or the committed prefix's hash differs: a new
//!   input, replayed whole;
//! * the committed prefix matches and nothing follows it: already replayed,
//!   refused (`--force` adds it again);
//! * the committed prefix matches and more follows (a replay that failed
//!   half-way, or a log that grew since): resumed after the prefix;
//! * an `open` entry after the last commit: a replay of it was interrupted
//!   (killed) after recording started, so the store may hold part of what
//!   follows the prefix: refused with that explanation (`--force` adds it
//!   again from its start).
//!
//! A run appends `open` entries (and `fsync`s) before its first sample and
//! `commit` entries after the store is flushed and `fsync`ed, so a commit
//! never claims data the store does not hold. Standard input and FIFOs are
//! read once and are not tracked.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use xxhash_rust::xxh3::Xxh3;

use crate::replay::{open_input, FileProgress, Replayed, Start, Through};

/// The ledger's file name inside a store directory.
pub const LEDGER_FILE: &str = "replays.jsonl";
/// Bytes of an input (decompressed) that make its id.
pub const ID_BYTES: usize = 64 * 1024;
/// Version written in every entry.
const VERSION: u64 = 1;

/// What a store's ledger says of one input.
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// The last commit: bytes, lines, hash of the bytes, requests, path, time.
    pub committed: Option<Commit>,
    /// An `open` entry after the last commit: a run was interrupted.
    pub open_after_commit: bool,
}

/// A committed prefix of an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Bytes of the (decompressed) input recorded and stored.
    pub bytes: u64,
    /// Lines in those bytes.
    pub lines: u64,
    /// XXH3-128 of those bytes.
    pub hash: u128,
    /// Requests recorded from those bytes (all runs together).
    pub requests: u64,
    /// The path it was replayed from (for messages only).
    pub path: String,
    /// Unix second of the commit.
    pub at: u64,
}

/// The ledger of one store directory.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    by_id: HashMap<u128, Known>,
}

fn hex(x: u128) -> String {
    format!("{x:032x}")
}

fn parse_hex(v: &Value) -> Option<u128> {
    v.as_str().filter(|s| s.len() == 32).and_then(|s| u128::from_str_radix(s, 16).ok())
}

impl Ledger {
    /// Reads `dir`'s ledger (none yet: empty). A line that is not a valid
    /// entry is an error naming the file and line, except a last line
    /// without its newline (an append torn by a crash), which is ignored.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or a complete line is not a valid entry.
    pub fn load(dir: &Path) -> Result<Ledger> {
        let path = dir.join(LEDGER_FILE);
        let mut ledger = Ledger { path: path.clone(), by_id: HashMap::new() };
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ledger),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for (n, line) in (1..).zip(text[..complete].split(|&b| b == b'\n')) {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            ledger
                .apply(line)
                .with_context(|| format!("{}:{n}: not a ledger entry", path.display()))?;
        }
        Ok(ledger)
    }

    fn apply(&mut self, line: &[u8]) -> Result<()> {
        let v: Value = serde_json::from_slice(line)?;
        let id = parse_hex(&v["id"]).context("no 32-digit hex `id`")?;
        let known = self.by_id.entry(id).or_default();
        match v["event"].as_str() {
            Some("open") => known.open_after_commit = true,
            Some("commit") => {
                let num = |k: &str| v[k].as_u64().with_context(|| format!("no integer `{k}`"));
                known.committed = Some(Commit {
                    bytes: num("bytes")?,
                    lines: num("lines")?,
                    hash: parse_hex(&v["hash"]).context("no 32-digit hex `hash`")?,
                    requests: num("requests")?,
                    path: v["path"].as_str().unwrap_or_default().to_owned(),
                    at: num("at")?,
                });
                known.open_after_commit = false;
            }
            other => anyhow::bail!("unknown event {other:?}"),
        }
        Ok(())
    }

    /// What the ledger says of the input with `id`.
    #[must_use]
    pub fn get(&self, id: u128) -> Option<&Known> {
        self.by_id.get(&id)
    }

    /// Appends `open` entries for inputs about to be recorded, and
    /// `fsync`s, before the first sample.
    ///
    /// # Errors
    ///
    /// The ledger cannot be written.
    pub fn open(&mut self, inputs: &[(u128, &Path)]) -> Result<()> {
        let lines: Vec<Value> = inputs
            .iter()
            .map(|(id, path)| {
                json!({"v": VERSION, "event": "open", "id": hex(*id), "path": path.display().to_string()})
            })
            .collect();
        self.append(&lines)?;
        for (id, _) in inputs {
            self.by_id.entry(*id).or_default().open_after_commit = true;
        }
        Ok(())
    }

    /// Appends `commit` entries (after the store was flushed), and `fsync`s.
    ///
    /// # Errors
    ///
    /// The ledger cannot be written.
    pub fn commit(&mut self, commits: &[(u128, Commit)]) -> Result<()> {
        let lines: Vec<Value> = commits
            .iter()
            .map(|(id, c)| {
                json!({
                    "v": VERSION, "event": "commit", "id": hex(*id), "path": c.path,
                    "bytes": c.bytes, "lines": c.lines, "hash": hex(c.hash),
                    "requests": c.requests, "at": c.at,
                })
            })
            .collect();
        self.append(&lines)?;
        for (id, c) in commits {
            let known = self.by_id.entry(*id).or_default();
            known.committed = Some(c.clone());
            known.open_after_commit = false;
        }
        Ok(())
    }

    fn append(&self, lines: &[Value]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for l in lines {
            text.push_str(&l.to_string());
            text.push('\n');
        }
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        };
        write().with_context(|| format!("cannot write the replay ledger {}", self.path.display()))
    }
}

/// The id of an input: XXH3-128 of its first [`ID_BYTES`] bytes, read
/// through `r` (decompressed).
///
/// # Errors
///
/// Reading fails.
pub fn id_of(r: &mut dyn Read) -> std::io::Result<u128> {
    let mut buf = vec![0u8; ID_BYTES];
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(xxhash_rust::xxh3::xxh3_128(&buf[..n]))
}

/// Whether the first `bytes` bytes read through `r` hash to `hash`, and if
/// so whether anything follows them. `None`: the input is shorter or its
/// prefix differs (another input that begins the same way).
///
/// # Errors
///
/// Reading fails.
pub fn prefix_matches(r: &mut dyn Read, bytes: u64, hash: u128) -> std::io::Result<Option<bool>> {
    let mut h = Xxh3::new();
    let mut left = bytes;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        match r.read(&mut buf[..want]) {
            Ok(0) => return Ok(None),
            Ok(k) => {
                h.update(&buf[..k]);
                left -= k as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if h.digest128() != hash {
        return Ok(None);
    }
    let mut one = [0u8; 1];
    loop {
        match r.read(&mut one) {
            Ok(k) => return Ok(Some(k > 0)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What to do with one input: its id (`None`: not tracked, such as
/// standard input) and where to start.
pub type Planned = (Option<u128>, Start);

/// Looks every input up in `ledger` (see the module docs) and says, on
/// standard error, which are skipped or resumed.
///
/// # Errors
///
/// An input cannot be read, or an earlier replay of one was interrupted
/// (without `force`).
pub fn plan(ledger: &Ledger, files: &[PathBuf], force: bool) -> Result<Vec<Planned>> {
    let mut out = Vec::with_capacity(files.len());
    let mut seen: HashMap<u128, &Path> = HashMap::new();
    for path in files {
        let tracked = path.as_os_str() != "-" && std::fs::metadata(path).is_ok_and(|m| m.is_file());
        if !tracked {
            out.push((None, Start::Whole));
            continue;
        }
        let id = id_of(&mut *open_input(path)?)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if let Some(first) = seen.insert(id, path) {
            if !force {
                anyhow::bail!(
                    "{} and {} are the same input (same content); give it once, or --force to count it twice",
                    first.display(),
                    path.display()
                );
            }
        }
        let known = ledger.get(id);
        if force {
            out.push((Some(id), Start::Whole));
            continue;
        }
        let Some(known) = known else {
            out.push((Some(id), Start::Whole));
            continue;
        };
        let committed = known.committed.as_ref();
        let prefix = match committed {
            Some(c) => prefix_matches(&mut *open_input(path)?, c.bytes, c.hash)
                .with_context(|| format!("cannot read {}", path.display()))?,
            None => None,
        };
        if known.open_after_commit {
            let done = committed.filter(|_| prefix.is_some()).map_or(0, |c| c.bytes);
            anyhow::bail!(
                "{}: an earlier replay of this input into this store was interrupted after it began \
                 recording, so the store may hold part of it past the {done} bytes that were \
                 committed; replaying it could count those requests twice. Give --force to add it \
                 again from its start, or replay into a new store",
                path.display()
            );
        }
        match (committed, prefix) {
            (Some(c), Some(false)) => {
                eprintln!(
                    "{}: already in this store ({} requests, replayed from {} at {}); skipped (--force adds it again)",
                    path.display(),
                    c.requests,
                    c.path,
                    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(c.at)),
                );
                out.push((Some(id), Start::Skip));
            }
            (Some(c), Some(true)) if c.bytes > 0 => {
                eprintln!(
                    "{}: resuming after the {} bytes ({} lines) an earlier replay committed",
                    path.display(),
                    c.bytes,
                    c.lines
                );
                let through = Through { bytes: c.bytes, lines: c.lines, hash: c.hash, eof: false };
                out.push((Some(id), Start::After(through)));
            }
            _ => out.push((Some(id), Start::Whole)),
        }
    }
    Ok(out)
}

/// The ledger entries of a finished (or stopped) replay: per tracked input
/// replayed, the prefix recorded. An input none of whose lines recorded a
/// request (every one bad, say) commits nothing, so that it can be
/// replayed again with other options.
#[must_use]
pub fn commits(files: &[PathBuf], plan: &[Planned], replayed: &Replayed) -> Vec<(u128, Commit)> {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = Vec::new();
    for ((path, (id, start)), got) in files.iter().zip(plan).zip(&replayed.files) {
        let (Some(id), false) = (id, *start == Start::Skip) else { continue };
        let before = match start {
            Start::After(t) => *t,
            _ => Through { hash: xxhash_rust::xxh3::xxh3_128(&[]), ..Through::default() },
        };
        let earlier = match start {
            Start::After(_) => 1,
            _ => 0,
        };
        // Nothing recorded from it, ever: commit the empty prefix.
        let through = if got.requests == 0 && earlier == 0 { before } else { got.through };
        out.push((
            *id,
            Commit {
                bytes: through.bytes,
                lines: through.lines,
                hash: through.hash,
                requests: got.requests,
                path: path.display().to_string(),
                at,
            },
        ));
    }
    out
}

/// One line on what a stopped replay committed of an input.
#[must_use]
pub fn progress_note(plan: &Planned, got: &FileProgress) -> String {
    match plan.1 {
        Start::Skip => "skipped (already in the store)".into(),
        _ if got.through.eof => format!("committed whole ({} requests)", got.requests),
        Start::After(t) if got.through.bytes == t.bytes => {
            format!("nothing more committed (still {} bytes, {} lines)", t.bytes, t.lines)
        }
        _ if got.through.bytes == 0 => "nothing committed".into(),
        _ => format!(
            "committed its first {} bytes ({} lines, {} requests)",
            got.through.bytes, got.through.lines, got.requests
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::load(dir.path()).unwrap();
        assert!(ledger.get(7).is_none());
        ledger.open(&[(7, Path::new("a.log")), (9, Path::new("b.log"))]).unwrap();
        let commit = Commit {
            bytes: 100,
            lines: 3,
            hash: 0xabc,
            requests: 3,
            path: "a.log".into(),
            at: 1_700_000_000,
        };
        ledger.commit(&[(7, commit.clone())]).unwrap();
        // A crash in the middle of an append leaves a line without newline.
        let mut file =
            std::fs::OpenOptions::new().append(true).open(dir.path().join(LEDGER_FILE)).unwrap();
        file.write_all(b"{\"v\":1,\"event\":\"com").unwrap();
        let ledger = Ledger::load(dir.path()).unwrap();
        let a = ledger.get(7).unwrap();
        assert_eq!(a.committed.as_ref(), Some(&commit));
        assert!(!a.open_after_commit);
        let b = ledger.get(9).unwrap();
        assert!(b.committed.is_none() && b.open_after_commit, "{b:?}");
    }

    #[test]
    fn a_damaged_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LEDGER_FILE),
            "{\"v\":1,\"event\":\"open\",\"id\":\"zz\"}\n",
        )
        .unwrap();
        let e = format!("{:#}", Ledger::load(dir.path()).unwrap_err());
        assert!(e.contains("replays.jsonl:1: not a ledger entry"), "{e}");
    }

    #[test]
    fn prefixes_match_only_the_same_bytes() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let hash = xxhash_rust::xxh3::xxh3_128(&data[..150_000]);
        assert_eq!(prefix_matches(&mut &data[..], 150_000, hash).unwrap(), Some(true));
        assert_eq!(prefix_matches(&mut &data[..150_000], 150_000, hash).unwrap(), Some(false));
        assert_eq!(prefix_matches(&mut &data[..100_000], 150_000, hash).unwrap(), None);
        let mut other = data.clone();
        other[140_000] ^= 1;
        assert_eq!(prefix_matches(&mut &other[..], 150_000, hash).unwrap(), None);
        assert_eq!(id_of(&mut &data[..]).unwrap(), xxhash_rust::xxh3::xxh3_128(&data[..ID_BYTES]));
    }
}
