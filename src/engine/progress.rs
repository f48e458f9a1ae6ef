//! Progress on stderr: a spinner per running operation with its elapsed time on a terminal,
//! one line per start and finish otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    multi: MultiProgress,
    interactive: bool,
    quiet: bool,
}

pub struct Task {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let interactive = std::io::stderr().is_terminal() && !quiet;
        let target = if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
            interactive,
            quiet,
        }
    }

    pub fn start(&self, label: &str) -> Task {
        if self.interactive {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            Task { bar: Some(bar) }
        } else {
            if !self.quiet {
                eprintln!("{label}...");
            }
            Task { bar: None }
        }
    }

    pub fn status(&self, task: &Task, label: &str) {
        if let Some(b) = &task.bar {
            b.set_message(label.to_string());
        }
    }

    pub fn finish(&self, task: Task, line: &str) {
        if let Some(b) = task.bar {
            b.finish_and_clear();
            self.multi.remove(&b);
        }
        if self.interactive {
            let _ = self.multi.println(line);
        } else if !self.quiet {
            eprintln!("{line}");
        }
    }
}
