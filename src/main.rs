//! terraform-provider-largek8s: serves the provider to Terraform, or explains itself when run by hand.

use std::process::ExitCode;

use largek8s::plugin::{self, handshake::HandshakeConfig, logging, Mode};
use largek8s::provider::LargeK8s;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("terraform-provider-largek8s {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "terraform-provider-largek8s {}\n\nA Terraform provider; Terraform starts it. Options for debugging:\n  \
             --debug    serve without Terraform's handshake and print a TF_REATTACH_PROVIDERS line\n  \
             --version  print the version",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    logging::init_from_env();
    let socket_dir = std::env::var("PLUGIN_UNIX_SOCKET_DIR")
        .ok()
        .filter(|d| !d.is_empty());
    let mode = if args.iter().any(|a| a == "--debug") {
        Mode::Debug { socket_dir }
    } else {
        match HandshakeConfig::from_env(|k| std::env::var(k).ok()) {
            Ok(cfg) => Mode::Terraform(cfg),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("terraform-provider-largek8s: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(plugin::serve(LargeK8s::new(), mode));
    // Do not wait for idle connections or blocked tasks: Terraform waits for our exit after Shutdown.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-largek8s: {e}");
            ExitCode::FAILURE
        }
    }
}
