//! Crash points for fault tests. A node started with `QUYHOACH_CRASH_AT=<point>` kills itself
//! with SIGKILL when it reaches that point, so that tests can stop a real process at an exact
//! moment (for example after a push is on disk but before its receipt is sent). Without the
//! variable every crash point is a no-op.
//!
//! `QUYHOACH_FLUSH_DELAY_MS=<ms>` makes the store's flusher pause that long before every flush,
//! a slow disk for the tests that check that nothing leaves a node before it is durable.

use std::sync::OnceLock;

/// After a received push is durable, before the receipt is sent.
pub const AFTER_RECEIVE: &str = "after-receive";

/// Kills this process with SIGKILL if and only if `QUYHOACH_CRASH_AT` names `point`.
pub fn crash_point(point: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("QUYHOACH_CRASH_AT").ok());
    if armed.as_deref() == Some(point) {
        tracing::warn!(point, "crash point reached; killing this process");
        // SAFETY: kill(2) with our own pid and a valid signal number has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// `quyhoach merge`: every source read and checked, before the one transaction is committed.
pub const MERGE_BEFORE_COMMIT: &str = "merge-before-commit";

/// `quyhoach merge`: the transaction committed, before it is known to be on disk.
pub const MERGE_AFTER_COMMIT: &str = "merge-after-commit";

/// When a push is taken, before it is stored (for the panic-hook test).
pub const ON_PUSH: &str = "on-push";

/// Panics, with `detail` in the message, if and only if `QUYHOACH_PANIC_AT` names `point`: a
/// test's way to see what a handler's panic prints.
pub fn panic_point(point: &str, detail: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("QUYHOACH_PANIC_AT").ok());
    if armed.as_deref() == Some(point) {
        panic!("panic point {point} reached with {detail}");
    }
}

/// The test-only pause before every flush, if `QUYHOACH_FLUSH_DELAY_MS` sets one.
pub fn flush_delay() -> Option<std::time::Duration> {
    let ms: u64 = std::env::var("QUYHOACH_FLUSH_DELAY_MS")
        .ok()?
        .parse()
        .ok()?;
    (ms > 0).then(|| std::time::Duration::from_millis(ms))
}
