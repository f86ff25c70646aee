//! The `largek8s-sim` binary: parse the command line, serve, print the base URL, stop on SIGTERM or SIGINT.

use clap::Parser;
use largek8s_sim::{start, Cli, Config};
use std::io::Write;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: Config = Cli::parse().into();
    // Register for signals before announcing the URL, so a supervisor may stop us as soon as it has read it.
    let signals = Signals::register();
    let running = match start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("largek8s-sim: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", running.base_url);
        let _ = out.flush();
    }
    eprintln!(
        "largek8s-sim: serving ARM at {} (subscription {})",
        running.base_url, running.sim.config.subscription
    );
    signals.wait().await;
    eprintln!("largek8s-sim: shutting down");
    running.stop().await;
    std::process::ExitCode::SUCCESS
}

/// SIGTERM and SIGINT (Ctrl-C).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn register() -> Self {
        Self {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        if let Some(term) = self.term.as_mut() {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
