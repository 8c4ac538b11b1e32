//! The process sampler: one thread that sets gauges from `/proc/self` and,
//! when the process runs in a cgroup v2, from its cgroup's files.
//!
//! Every file is found once at start, then opened and read at each sample
//! into a buffer allocated at start (a file kept open and read again may
//! answer stale values under some kernels and sandboxes; opening a short
//! path allocates nothing), and parsed without allocating, so a sample
//! allocates nothing. Linux only: elsewhere no file opens and the thread
//! sets nothing.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::gauge::Gauge;
use crate::store::Inner;

/// CPU time unit of `/proc/<pid>/stat` (`USER_HZ`): 100 on every Linux
/// architecture's ABI.
const TICKS_PER_S: f64 = 100.0;

/// Bytes read from a file at most (`/proc/self/status` is about 1.5 KiB).
const BUF_LEN: usize = 8192;

/// Gauge names the sampler sets.
pub(crate) const PROCESS_CPU: &str = "process_cpu_percent";
pub(crate) const PROCESS_RSS: &str = "process_resident_memory_bytes";
pub(crate) const PROCESS_THREADS: &str = "process_threads";
pub(crate) const CONTAINER_MEMORY: &str = "container_memory_usage_bytes";
pub(crate) const CONTAINER_LIMIT: &str = "container_memory_limit_bytes";
pub(crate) const CONTAINER_CPU: &str = "container_cpu_percent";

/// The cgroup v2 files of this process, those that exist.
struct Cgroup {
    memory_current: Option<PathBuf>,
    memory_max: Option<PathBuf>,
    cpu_stat: Option<PathBuf>,
    cpu_max: Option<PathBuf>,
}

/// The sampler's files, buffers, gauges and previous CPU readings.
pub(crate) struct ProcSampler {
    stat: Option<PathBuf>,
    status: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    buf: Box<[u8]>,
    cpu: Gauge,
    rss: Gauge,
    threads: Gauge,
    container: Option<[Gauge; 3]>,
    /// `(when, process CPU ticks, cgroup CPU µs)` of the previous sample.
    prev: Option<(Instant, u64, Option<u64>)>,
}

impl ProcSampler {
    pub(crate) fn new(g: &dyn Fn(&str) -> Gauge) -> ProcSampler {
        let cgroup = cgroup_dir().map(|dir| Cgroup {
            memory_current: existing(dir.join("memory.current")),
            memory_max: existing(dir.join("memory.max")),
            cpu_stat: existing(dir.join("cpu.stat")),
            cpu_max: existing(dir.join("cpu.max")),
        });
        // A root cgroup (a process outside any container) has no
        // `memory.current`; a container's own cgroup has.
        let cgroup = cgroup.filter(|c| c.memory_current.is_some());
        ProcSampler {
            stat: existing(PathBuf::from("/proc/self/stat")),
            status: existing(PathBuf::from("/proc/self/status")),
            container: cgroup
                .as_ref()
                .map(|_| [g(CONTAINER_MEMORY), g(CONTAINER_LIMIT), g(CONTAINER_CPU)]),
            cgroup,
            buf: vec![0u8; BUF_LEN].into_boxed_slice(),
            cpu: g(PROCESS_CPU),
            rss: g(PROCESS_RSS),
            threads: g(PROCESS_THREADS),
            prev: None,
        }
    }

    /// Reads every file once and sets the gauges.
    #[expect(clippy::cast_precision_loss, reason = "tick and byte counts far below 2^53")]
    pub(crate) fn sample(&mut self) {
        let now = Instant::now();
        let mut ticks = None;
        if let Some(text) = read(self.stat.as_ref(), &mut self.buf) {
            if let Some((t, threads)) = parse_stat(text) {
                ticks = Some(t);
                self.threads.set(threads as f64);
            }
        }
        if let Some(kb) =
            read(self.status.as_ref(), &mut self.buf).and_then(|t| field_kb(t, b"VmRSS:"))
        {
            self.rss.set((kb * 1024) as f64);
        }
        let mut usage_us = None;
        if let (Some(c), Some([mem, limit, ccpu])) = (&self.cgroup, &self.container) {
            if let Some(v) = read(c.memory_current.as_ref(), &mut self.buf).and_then(first_u64) {
                mem.set(v as f64);
            }
            // "max" (no limit) sets nothing.
            if let Some(v) = read(c.memory_max.as_ref(), &mut self.buf).and_then(first_u64) {
                limit.set(v as f64);
            }
            usage_us =
                read(c.cpu_stat.as_ref(), &mut self.buf).and_then(|t| field_u64(t, b"usage_usec"));
            let cores =
                read(c.cpu_max.as_ref(), &mut self.buf).and_then(quota_cores).unwrap_or(1.0);
            if let (Some((then, _, Some(prev))), Some(us)) = (self.prev, usage_us) {
                let dt = now.duration_since(then).as_secs_f64();
                if dt > 0.0 {
                    ccpu.set(us.saturating_sub(prev) as f64 / 1e6 / dt / cores * 100.0);
                }
            }
        }
        if let (Some((then, prev, _)), Some(t)) = (self.prev, ticks) {
            let dt = now.duration_since(then).as_secs_f64();
            if dt > 0.0 {
                self.cpu.set(t.saturating_sub(prev) as f64 / TICKS_PER_S / dt * 100.0);
            }
        }
        self.prev = ticks.map(|t| (now, t, usage_us));
    }
}

/// `path` when it names a file that opens.
fn existing(path: PathBuf) -> Option<PathBuf> {
    File::open(&path).is_ok().then_some(path)
}

/// Reads the file at `path` into `buf` (its first `buf.len()` bytes): the
/// bytes read, `None` on error. A path shorter than the standard library's
/// stack buffer (384 bytes) opens without allocating.
fn read<'a>(path: Option<&PathBuf>, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    use std::io::Read;
    let mut f = File::open(path?).ok()?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(buf.get_mut(n..)?) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.get(..n)
}

/// `utime + stime` (ticks) and `num_threads` of a `/proc/<pid>/stat` line.
/// The command name (field 2) may hold spaces and parentheses: fields are
/// counted after its last `)`.
fn parse_stat(text: &[u8]) -> Option<(u64, u64)> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text.get(close + 1..)?.split(|&b| b == b' ').filter(|f| !f.is_empty());
    // Field 3 (state) is the first after the name; utime is field 14.
    let utime = parse_u64(fields.nth(11)?)?;
    let stime = parse_u64(fields.next()?)?;
    let threads = parse_u64(fields.nth(4)?)?;
    Some((utime + stime, threads))
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    let s = s.trim_ascii();
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then_some(())?;
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// The first whitespace-separated number of `text` (`None` for "max").
fn first_u64(text: &[u8]) -> Option<u64> {
    parse_u64(text.split(u8::is_ascii_whitespace).find(|f| !f.is_empty())?)
}

/// The value of line `name value` of a `key value` file.
fn field_u64(text: &[u8], name: &[u8]) -> Option<u64> {
    text.split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(name)?;
        rest.first().is_some_and(u8::is_ascii_whitespace).then(|| first_u64(rest))?
    })
}

/// The value of a `Name:   123 kB` line of `/proc/<pid>/status`.
fn field_kb(text: &[u8], name: &[u8]) -> Option<u64> {
    text.split(|&b| b == b'\n').find_map(|line| first_u64(line.strip_prefix(name)?))
}

/// `cpu.max` (`"QUOTA PERIOD"` or `"max PERIOD"`) as cores; `None` without
/// a quota.
#[expect(clippy::cast_precision_loss, reason = "quota and period are microseconds, far below 2^53")]
fn quota_cores(text: &[u8]) -> Option<f64> {
    let mut it = text.split(u8::is_ascii_whitespace).filter(|f| !f.is_empty());
    let quota = parse_u64(it.next()?)?;
    let period = parse_u64(it.next()?)?;
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

/// This process's cgroup v2 directory: the `0::PATH` line of
/// `/proc/self/cgroup` under the mount point of the `cgroup2` file system.
fn cgroup_dir() -> Option<PathBuf> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        post.starts_with("cgroup2 ").then(|| pre.split(' ').nth(4))?
    })?;
    let dir = Path::new(mount).join(rel.trim_start_matches('/'));
    dir.is_dir().then_some(dir)
}

/// The sampler thread: a sample every `every` until the store stops (its
/// close unparks and joins it) or is gone.
pub(crate) fn run(weak: &Weak<Inner>, mut sampler: ProcSampler, every: Duration) {
    let mut next = Instant::now();
    loop {
        {
            let Some(inner) = weak.upgrade() else { return };
            if inner.stop.load(Relaxed) {
                return;
            }
        }
        sampler.sample();
        next += every;
        let now = Instant::now();
        if next < now {
            // Late (a suspended process): skip the missed samples.
            next = now + every;
        }
        std::thread::park_timeout(next - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_name_with_spaces_and_parentheses() {
        let line = b"4242 (a b) c)) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 7 0 100 2000 300 x\n";
        assert_eq!(parse_stat(line), Some((175, 7)));
    }

    #[test]
    fn status_cgroup_and_quota_fields() {
        let status = b"Name:\tx\nVmRSS:\t  81234 kB\nThreads:\t3\n";
        assert_eq!(field_kb(status, b"VmRSS:"), Some(81_234));
        let cpu_stat = b"usage_usec 123456\nuser_usec 1\n";
        assert_eq!(field_u64(cpu_stat, b"usage_usec"), Some(123_456));
        assert_eq!(field_u64(cpu_stat, b"user"), None);
        assert_eq!(quota_cores(b"50000 100000\n"), Some(0.5));
        assert_eq!(quota_cores(b"max 100000\n"), None);
        assert_eq!(first_u64(b"max\n"), None);
        assert_eq!(first_u64(b"536870912\n"), Some(536_870_912));
    }
}
