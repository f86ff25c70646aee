//! Harness for acceptance tests: runs the real `terraform` binary against the built provider through
//! `dev_overrides`, in a throw-away working directory per test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub mod release;

/// Provider source address used in every configuration.
pub const SOURCE: &str = "largek8s/largek8s";

/// The workspace's target directory, where `cargo build --workspace --bins` put the binaries.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
}

/// A binary of this workspace, built beforehand by the test command (see README.md).
pub fn workspace_binary(name: &str) -> PathBuf {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let path = target_dir().join(profile).join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`), as the test \
         command in README.md does",
        path.display()
    );
    path
}

/// The real Terraform CLI: `$TERRAFORM`, else /usr/local/bin/terraform, else `terraform` on PATH.
pub fn terraform_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TERRAFORM") {
        return PathBuf::from(path);
    }
    let usual = PathBuf::from("/usr/local/bin/terraform");
    if usual.is_file() {
        return usual;
    }
    PathBuf::from("terraform")
}

/// How Terraform talks to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Terraform's default: AutoMTLS with certificates on both sides.
    AutoMtls,
    /// `TF_DISABLE_PLUGIN_TLS=1`.
    Plaintext,
}

/// Outcome of one terraform command.
pub struct Run {
    pub success: bool,
    /// The exit code (-1 when a signal ended terraform).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Self {
        Run {
            success: output.status.success(),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Both streams, for assertion messages.
    pub fn text(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// Sends `SIGNAL` (a name such as `INT` or `KILL`) to process `pid` with kill(1); true when delivered.
fn signal(pid: &str, name: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{name}"), pid])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A terraform command started by [`Workspace::spawn_terraform`].
pub struct Running {
    child: Option<Child>,
    /// Readers draining stdout and stderr as terraform writes them: an undrained pipe fills (a plan of a
    /// few hundred nodes is larger than the pipe's buffer) and blocks terraform mid-run.
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

fn drain(
    stream: Option<impl std::io::Read + Send + 'static>,
) -> Option<std::thread::JoinHandle<Vec<u8>>> {
    stream.map(|mut s| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            out
        })
    })
}

fn collected(reader: Option<std::thread::JoinHandle<Vec<u8>>>) -> String {
    let bytes = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Running {
    /// Sends SIGINT, as Ctrl-C in a terminal does: Terraform asks the provider to stop (StopProvider) and
    /// saves the state it gets back.
    pub fn interrupt(&self) {
        let pid = self.child.as_ref().map_or(0, Child::id);
        assert!(
            signal(&pid.to_string(), "INT"),
            "cannot send SIGINT to terraform"
        );
    }

    /// Waits for terraform to exit and collects what it printed.
    pub fn wait(mut self) -> Run {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("terraform was already waited for"));
        let status = child
            .wait()
            .unwrap_or_else(|e| panic!("waiting for terraform: {e}"));
        Run {
            success: status.success(),
            code: status.code().unwrap_or(-1),
            stdout: collected(self.stdout.take()),
            stderr: collected(self.stderr.take()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Only reached when a test panics before wait(): leave no terraform running.
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `done` every 50 ms until it holds or `limit` passes; true when it held. For waiting on progress
/// seen in the simulator, never for timing assertions.
pub fn wait_until(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// A working directory with a CLI config that points `largek8s/largek8s` at the freshly built provider.
pub struct Workspace {
    dir: tempfile::TempDir,
    transport: Transport,
    env: Vec<(String, String)>,
}

impl Workspace {
    pub fn new(transport: Transport) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("largek8s-acc-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let provider = workspace_binary("terraform-provider-largek8s");
        let provider_dir = provider
            .parent()
            .unwrap_or(Path::new("/"))
            .display()
            .to_string();
        let rc = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"{SOURCE}\" = \"{provider_dir}\"\n  }}\n  direct {{}}\n}}\n"
        );
        std::fs::write(dir.path().join("terraform.rc"), rc)
            .unwrap_or_else(|e| panic!("writing terraform.rc: {e}"));
        Workspace {
            dir,
            transport,
            env: Vec::new(),
        }
    }

    /// A workspace whose provider reaches `simulator` as its default service principal, through the same
    /// `ARM_*` variables users set for Azure.
    pub fn for_simulator(simulator: &Simulator) -> Self {
        let mut ws = Workspace::new(Transport::AutoMtls);
        ws.env("ARM_ENDPOINT", &simulator.url)
            .env("ARM_SUBSCRIPTION_ID", sim_defaults::SUBSCRIPTION)
            .env("ARM_TENANT_ID", sim_defaults::TENANT)
            .env("ARM_CLIENT_ID", sim_defaults::CLIENT_ID)
            .env("ARM_CLIENT_SECRET", sim_defaults::CLIENT_SECRET);
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds an environment variable for every later terraform run.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.path().join(name), contents)
            .unwrap_or_else(|e| panic!("writing {name}: {e}"));
    }

    /// Runs `terraform <args>` here, non-interactively, with no checkpoint calls and no network.
    pub fn terraform(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}. Acceptance tests need Terraform >= 1.11 (set TERRAFORM to its path)",
                terraform_binary().display()
            )
        });
        Run::from_output(output)
    }

    /// Starts `terraform <args>` here without waiting for it, for tests that interrupt it.
    pub fn spawn_terraform(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", terraform_binary().display()));
        Running {
            stdout: drain(child.stdout.take()),
            stderr: drain(child.stderr.take()),
            child: Some(child),
        }
    }

    /// SIGKILLs the provider processes Terraform started for this workspace (found by executable and
    /// working directory, so parallel tests never touch each other's providers); returns how many.
    pub fn kill_providers(&self) -> usize {
        let provider = workspace_binary("terraform-provider-largek8s");
        let provider = std::fs::canonicalize(&provider).unwrap_or(provider);
        let here = std::fs::canonicalize(self.path()).unwrap_or_else(|_| self.path().into());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        let mut killed = 0;
        for entry in entries.flatten() {
            let proc_dir = entry.path();
            let exe = std::fs::read_link(proc_dir.join("exe"));
            let cwd = std::fs::read_link(proc_dir.join("cwd"));
            if exe.is_ok_and(|e| e == provider) && cwd.is_ok_and(|c| c == here) {
                let pid = entry.file_name().to_string_lossy().into_owned();
                if signal(&pid, "KILL") {
                    killed += 1;
                }
            }
        }
        killed
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = terraform_in(self.dir.path(), args);
        match self.transport {
            Transport::Plaintext => cmd.env("TF_DISABLE_PLUGIN_TLS", "1"),
            Transport::AutoMtls => cmd.env_remove("TF_DISABLE_PLUGIN_TLS"),
        };
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `terraform plan -detailed-exitcode`; `code` tells 0 (no changes), 1 (error) and 2 (changes) apart.
    pub fn plan_detailed(&self) -> Run {
        self.terraform(&["plan", "-detailed-exitcode", "-no-color"])
    }

    /// Asserts that a plan succeeds and shows no changes; `after` names what came before, for the message.
    pub fn assert_plan_clean(&self, after: &str) {
        let plan = self.plan_detailed();
        assert!(
            plan.code == 0,
            "a plan after {after} must show no changes (exit code {}):\n{}",
            plan.code,
            plan.text()
        );
    }

    /// `terraform output -json NAME`, parsed.
    pub fn output(&self, name: &str) -> serde_json::Value {
        let run = self.terraform(&["output", "-json", name]);
        assert!(
            run.success,
            "terraform output {name} failed:\n{}",
            run.text()
        );
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("output {name} is not JSON ({e}):\n{}", run.stdout))
    }
}

/// `terraform <args>` in `dir` as every test runs it: the CLI config `dir/terraform.rc`, no checkpoint
/// calls, no prompts, and none of the caller's logging or reattach settings.
fn terraform_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(terraform_binary());
    cmd.args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", dir.join("terraform.rc"))
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER")
        .env_remove("TF_REATTACH_PROVIDERS");
    cmd
}

/// The `terraform { required_providers … }` block every test configuration starts with.
pub fn required_providers() -> String {
    format!("terraform {{\n  required_providers {{\n    largek8s = {{\n      source = \"{SOURCE}\"\n    }}\n  }}\n}}\n")
}

/// Identity the simulator accepts by default (see sim/README.md).
pub mod sim_defaults {
    pub const SUBSCRIPTION: &str = "11111111-2222-3333-4444-555555555555";
    pub const TENANT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    pub const CLIENT_ID: &str = "00000000-1111-2222-3333-444444444444";
    pub const CLIENT_SECRET: &str = "largek8s-sim-secret";
}

/// A running `largek8s-sim` on a loopback port, stopped when dropped.
pub struct Simulator {
    child: std::process::Child,
    pub url: String,
    args: Vec<String>,
}

impl Simulator {
    /// Starts the simulator on a free port with `args` (e.g. `["--seed", "demo"]`) and waits for its base URL.
    pub fn start(args: &[&str]) -> Self {
        Self::start_listening("127.0.0.1:0", args)
    }

    /// Starts the simulator listening on `listen` (`127.0.0.1:0` picks a free port).
    pub fn start_listening(listen: &str, args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, url) = Self::spawn(listen, &args);
        Simulator { child, url, args }
    }

    /// Stops the simulator as a service restart does (SIGTERM: in-flight requests finish, `--state` is
    /// saved) and starts it again on the same address with the same arguments.
    pub fn restart(&mut self) {
        assert!(
            signal(&self.child.id().to_string(), "TERM"),
            "cannot send SIGTERM to largek8s-sim"
        );
        let _ = self.child.wait();
        let listen = self.url.trim_start_matches("http://").to_string();
        let (child, url) = Self::spawn(&listen, &self.args);
        assert_eq!(url, self.url, "the restarted simulator listens elsewhere");
        self.child = child;
    }

    fn spawn(listen: &str, args: &[String]) -> (std::process::Child, String) {
        use std::io::BufRead;
        let mut child = Command::new(workspace_binary("largek8s-sim"))
            .args(["--listen", listen])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start largek8s-sim: {e}"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("largek8s-sim has no stdout"));
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("reading largek8s-sim's URL: {e}"));
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected first line from largek8s-sim: {line:?}"
        );
        (child, url)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request to the simulator's control API (`/_sim/...`) at `base`: the status and the JSON body (Null
/// when empty or not JSON). HTTP/1.0, so the answer ends with the connection and is never chunked.
pub fn sim_control(
    base: &str,
    method: &str,
    path_and_query: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let payload = body.map(serde_json::Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path_and_query} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("sending {method} {path_and_query}: {e}"));
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .unwrap_or_else(|e| panic!("reading the answer to {method} {path_and_query}: {e}"));
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Every resource the simulator at `base` holds, as `{id, type, etag, body}`.
pub fn sim_resources(base: &str) -> Vec<serde_json::Value> {
    let (status, state) = sim_control(base, "GET", "/_sim/state", None);
    assert_eq!(status, 200, "GET /_sim/state: {state}");
    state["resources"].as_array().cloned().unwrap_or_default()
}
