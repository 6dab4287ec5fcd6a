//! Log output: text or JSON lines on standard error, with every national ID number (any run of
//! exactly twelve digits) masked before it is written, whatever code logged it.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Replaces every run of exactly twelve ASCII digits with asterisks.
pub fn redact(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() {
            let start = i;
            while i < text.len() && text[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 12 {
                out.extend_from_slice(b"************");
            } else {
                out.extend_from_slice(&text[start..i]);
            }
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// Standard error, redacted. Each log event is written whole, so a number is never split
/// between two writes.
#[derive(Clone, Copy, Default)]
pub struct RedactedStderr;

/// One event's bytes, redacted and written when dropped.
pub struct EventBuffer(Vec<u8>);

impl Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        let _ = io::stderr().lock().write_all(&redact(&self.0));
    }
}

impl<'a> MakeWriter<'a> for RedactedStderr {
    type Writer = EventBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        EventBuffer(Vec::with_capacity(256))
    }
}

/// Replaces the panic hook with one that writes the panic's message through [`redact`], so
/// that a value held in a panic message (a national ID in a failed slice) reaches standard
/// error masked like every log line.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let _ = io::stderr()
            .lock()
            .write_all(&redact(panic_text(info).as_bytes()));
    }));
}

/// The text the standard hook would print for a panic: thread, place and message.
fn panic_text(info: &std::panic::PanicHookInfo<'_>) -> String {
    let thread = std::thread::current();
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".into());
    let location = info.location().map(|l| l.to_string()).unwrap_or_default();
    format!(
        "thread '{}' panicked at {location}:\n{payload}\n",
        thread.name().unwrap_or("<unnamed>")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_digit_runs_are_masked_and_nothing_else() {
        let line = b"push from 16681: cadre 040080000123 in plan 16681/2025-2030/v1, phone 0912345678, 1234567890123";
        let out = String::from_utf8(redact(line)).unwrap();
        assert_eq!(
            out,
            "push from 16681: cadre ************ in plan 16681/2025-2030/v1, phone 0912345678, 1234567890123"
        );
    }
}
