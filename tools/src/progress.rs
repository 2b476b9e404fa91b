//! Progress bars on a terminal, nothing otherwise.
//!
//! A bar is drawn on stderr only when stderr is a terminal (and the caller
//! did not pass `--no-progress`); piped or redirected, the tools print
//! nothing but their results. Output written while a bar is visible goes
//! through [`Progress::suspend`] so the two do not interleave.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-counting progress bar, or nothing.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// True if a bar may be drawn: stderr is a terminal and `wanted`.
    pub fn available(wanted: bool) -> bool {
        wanted && std::io::stderr().is_terminal()
    }

    /// A hidden bar.
    pub fn hidden() -> Self {
        Self { bar: None }
    }

    /// A bar over `total` bytes labelled `what`, drawn only if `enabled`.
    pub fn bytes(enabled: bool, total: u64, what: &str) -> Self {
        if !enabled {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        Self { bar: Some(bar) }
    }

    /// A spinner for work whose size is unknown, drawn only if `enabled`.
    pub fn spinner(enabled: bool, what: &str) -> Self {
        if !enabled {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_message(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self { bar: Some(bar) }
    }

    /// Advances the bar by `bytes`.
    pub fn inc(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Runs `f` with the bar hidden (for writing to the terminal).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
