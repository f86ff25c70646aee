//! The `largek8s-sim` binary: parse the command line, serve, print the base URL, stop on SIGTERM or SIGINT.

use clap::Parser;
use largek8s_sim::{start, Cli, Config};
use std::io::Write;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: Config = Cli::parse().into();
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
    wait_for_signal().await;
    eprintln!("largek8s-sim: shutting down");
    running.stop().await;
    std::process::ExitCode::SUCCESS
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
