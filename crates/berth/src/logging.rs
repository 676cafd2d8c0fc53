//! The process log on stderr: `BERTH_LOG` filters (default `info`);
//! `--log-format text` (colours only on a terminal, never with `NO_COLOR`) or
//! `json` (one object per line, for log shippers).

use clap::ValueEnum;
use std::io::IsTerminal;

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Whether text logs get ANSI colours: stderr is a terminal and NO_COLOR is unset.
pub fn colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

pub fn init(format: LogFormat) {
    let filter = || tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(colours(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ))
            .with_env_filter(filter())
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter())
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(!colours(false, None), "a file or a pipe gets plain text");
        assert!(!colours(true, Some("1".as_ref())));
        assert!(colours(true, Some("".as_ref())), "an empty NO_COLOR is unset");
    }
}
