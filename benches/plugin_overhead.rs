//! Prints the provider's start-up and plan overhead, medians over several runs:
//! (a) process start to handshake line; (b) `terraform plan -refresh=false` with 10 `pool_layout` outputs
//! against the same with 10 built-in `terraform_data` resources. Run with `cargo bench --bench plugin_overhead`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use largek8s::plugin::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

const BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-largek8s");
const RUNS: usize = 9;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn time_to_handshake(with_tls: bool) -> Duration {
    let mut cmd = Command::new(BINARY);
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if with_tls {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .and_then(|p| p.self_signed(&key))
            .expect("certificate");
        cmd.env("PLUGIN_CLIENT_CERT", cert.pem());
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("start the provider");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("handshake line");
    let elapsed = start.elapsed();
    assert!(
        line.starts_with("1|6|unix|"),
        "unexpected handshake {line:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn plan_time(dir: &Path) -> Duration {
    let start = Instant::now();
    let out = Command::new(std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".into()))
        .args(["plan", "-refresh=false", "-input=false", "-no-color"])
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", dir.join("terraform.rc"))
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .output()
        .expect("run terraform");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "plan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn workspace(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let provider_dir = Path::new(BINARY)
        .parent()
        .expect("binary dir")
        .display()
        .to_string();
    let rc = format!(
        "provider_installation {{\n  dev_overrides {{\n    \"largek8s/largek8s\" = \"{provider_dir}\"\n  }}\n  direct {{}}\n}}\n"
    );
    std::fs::write(dir.path().join("terraform.rc"), rc).expect("write rc");
    std::fs::write(dir.path().join("main.tf"), body).expect("write main.tf");
    dir
}

fn main() {
    let plain = median((0..RUNS).map(|_| time_to_handshake(false)).collect());
    let tls = median((0..RUNS).map(|_| time_to_handshake(true)).collect());
    println!(
        "start to handshake line, plaintext: {:.2} ms (median of {RUNS})",
        ms(plain)
    );
    println!(
        "start to handshake line, AutoMTLS:  {:.2} ms (median of {RUNS}, target <= 5 ms)",
        ms(tls)
    );

    let functions: String = (1..=10)
        .map(|i| format!("output \"layout_{i}\" {{\n  value = provider::largek8s::pool_layout({}, 100)\n}}\n", i * 100))
        .collect();
    let ours = workspace(&format!(
        "terraform {{\n  required_providers {{\n    largek8s = {{ source = \"largek8s/largek8s\" }}\n  }}\n}}\n{functions}"
    ));
    let builtin: String = (1..=10)
        .map(|i| format!("resource \"terraform_data\" \"d{i}\" {{\n  input = {i}\n}}\n"))
        .collect();
    let theirs = workspace(&builtin);
    // One warm-up each, so the first run's page-cache misses count for neither side.
    plan_time(ours.path());
    plan_time(theirs.path());
    let ours_t = median((0..RUNS).map(|_| plan_time(ours.path())).collect());
    let theirs_t = median((0..RUNS).map(|_| plan_time(theirs.path())).collect());
    println!(
        "terraform plan, 10 pool_layout outputs:      {:.1} ms (median of {RUNS})",
        ms(ours_t)
    );
    println!(
        "terraform plan, 10 terraform_data resources: {:.1} ms (median of {RUNS})",
        ms(theirs_t)
    );
    println!(
        "ratio: {:.2} (target <= 1.30)",
        ours_t.as_secs_f64() / theirs_t.as_secs_f64()
    );
}
