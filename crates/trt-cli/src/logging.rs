//! `-v`/`-q`, for every command: log records go to stderr through `env_logger`.

use std::io::{IsTerminal, Write};

use clap::Args;
use log::LevelFilter;

/// Verbosity flags, global to all commands.
#[derive(Args, Debug)]
pub struct Verbosity {
    /// More log output: -v info, -vv debug, -vvv trace (default: warnings).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Less log output: -q errors only, -qq none.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    quiet: u8,
}

impl Verbosity {
    /// The level these flags ask for; `None` when neither was given.
    pub fn level(&self) -> Option<LevelFilter> {
        let level = match (self.verbose, self.quiet) {
            (0, 0) => return None,
            (0, 1) => LevelFilter::Error,
            (0, _) => LevelFilter::Off,
            (1, _) => LevelFilter::Info,
            (2, _) => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        };
        Some(level)
    }
}

/// Starts logging: the flags' level if given, else `RUST_LOG` if set, else warnings.
pub fn init(verbosity: &Verbosity) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(LevelFilter::Warn);
    match verbosity.level() {
        Some(level) => {
            builder.filter_level(level);
        }
        None => {
            builder.parse_default_env();
        }
    }
    // Long builds must not be silent in logs: without a terminal (CI, nohup, a Jetson over ssh
    // with redirection) the build's phases with their times are shown, as cargo does.
    let default_level = match verbosity.level() {
        Some(level) => level == LevelFilter::Warn,
        None => std::env::var_os("RUST_LOG").is_none(),
    };
    if default_level && !std::io::stderr().is_terminal() {
        builder.filter_module("trt::build", LevelFilter::Info);
    }
    builder.format(|buf, record| {
        let level = record.level().as_str().to_ascii_lowercase();
        writeln!(buf, "{level}: {}", record.args())
    });
    // Only fails if a logger is already set, which cannot happen here.
    let _ = builder.try_init();
}
