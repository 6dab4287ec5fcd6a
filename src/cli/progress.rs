//! Progress on a terminal while a command waits for a node to finish long work (a
//! reorganisation applied, a bundle imported): a spinner on standard error that says what is
//! under way and for how long, in the style of the import's progress bar
//! ([`quyhoach::tabular::progress_bar`]). The command says what was done on standard output
//! once the work ends; the spinner is cleared first.

use std::{future::Future, io::IsTerminal, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};

/// How often the spinner turns while the node works.
const TICK: Duration = Duration::from_millis(120);

/// Work under way, shown as a spinner on standard error when a person watches: only when both
/// standard output and standard error are terminals (a pipe, a file or a test sees nothing).
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Starts showing `doing` (e.g. `reorganising 40 into builtin:2025`).
    pub fn start(doing: &str) -> Self {
        let watched = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        Self::start_on(doing, watched)
    }

    /// [`Progress::start`], drawn only if `watched`.
    fn start_on(doing: &str, watched: bool) -> Self {
        let bar = if watched {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(TICK);
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_message(doing.to_string());
        Self { bar }
    }

    /// Says what is under way now, as a further step of the same work.
    pub fn step(&self, doing: &str) {
        self.bar.set_message(doing.to_string());
    }

    /// Runs `work` with the spinner turning, then clears it, whatever the outcome.
    pub async fn during<T>(&self, work: impl Future<Output = T>) -> T {
        let out = work.await;
        self.bar.finish_and_clear();
        out
    }

    /// Returns true if and only if nothing is drawn.
    #[cfg(test)]
    fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }
}

/// A command that fails half-way leaves no spinner behind its error.
impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_unless_a_person_watches() {
        let p = Progress::start_on("reorganising", false);
        p.step("still reorganising");
        assert!(p.is_hidden());
    }
}
