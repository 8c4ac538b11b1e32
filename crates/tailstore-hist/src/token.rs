//! A small number per live thread (never 0), handed to a new thread once
//! the thread that held it has exited: the key of a recorder's inline shard
//! (see `recorder::Recorder::shard`).
//!
//! Reading it is one thread-local load (a `const` thread local of a type
//! with no destructor needs no lazy-init or state check). A separate guard
//! with a destructor returns the token at thread exit: it first zeroes the
//! thread's copy, so a thread that records during its own teardown takes a
//! fresh token rather than one another thread may now hold.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Tokens of exited threads, for reuse.
static FREE: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// The next token never handed out.
static NEXT: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static TOKEN: Cell<u64> = const { Cell::new(0) };
    static GUARD: Guard = const { Guard };
}

/// Returns the thread's token when the thread exits.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        let t = TOKEN.with(|c| c.replace(0));
        if t != 0 {
            FREE.lock().push(t);
        }
    }
}

/// The calling thread's token.
#[expect(
    clippy::inline_always,
    reason = "read for every recorded sample (Recorder::record); forced inlining keeps it one \
              thread-local load on the benchmarked hot path"
)]
#[inline(always)]
pub(crate) fn current() -> u64 {
    let t = TOKEN.with(Cell::get);
    if t != 0 {
        return t;
    }
    assign()
}

/// Gives the thread a token: a freed one if any (the mutex orders the
/// previous holder's exit before this use), else a new one.
#[cold]
#[inline(never)]
fn assign() -> u64 {
    // Registering the guard fails once the thread's thread locals are being
    // destroyed: such a thread keeps a token no other thread ever gets.
    let guarded = GUARD.try_with(|_| ()).is_ok();
    let reused = if guarded { FREE.lock().pop() } else { None };
    let t = reused.unwrap_or_else(|| NEXT.fetch_add(1, Relaxed));
    TOKEN.with(|c| c.set(t));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_threads_hold_distinct_tokens_and_exited_ones_are_reused() {
        let mine = current();
        assert_ne!(mine, 0);
        assert_eq!(current(), mine, "stable within a thread");
        let barrier = std::sync::Barrier::new(8);
        let tokens: Vec<u64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let t = current();
                        // All eight alive at once.
                        barrier.wait();
                        t
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("no panic")).collect()
        });
        let mut distinct = tokens.clone();
        distinct.push(mine);
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 9, "{tokens:?} and {mine}");
        // Threads one after another reuse exited threads' tokens (other
        // tests' threads may take some meanwhile, not most).
        let mut seen: Vec<u64> =
            (0..100).map(|_| std::thread::spawn(current).join().expect("no panic")).collect();
        seen.sort_unstable();
        seen.dedup();
        assert!(seen.len() < 50, "{} distinct tokens for 100 threads in turn", seen.len());
    }
}
