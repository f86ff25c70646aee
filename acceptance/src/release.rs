//! The signed release `scripts/package --sign` writes, made with a throw-away GnuPG key, for the tests that
//! install the provider the way users do (filesystem mirror, provider registry, network mirror).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Run;

pub const BINARY: &str = "terraform-provider-largek8s";

/// Runs a command to completion and collects what it printed.
pub fn run(cmd: &mut Command) -> Run {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run::from_output(output)
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A GnuPG key as a provider registry publishes it.
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// The long key ID in uppercase hex, as the registry protocol's `key_id` wants it.
    pub key_id: String,
    pub fingerprint: String,
    /// The ASCII-armoured public key.
    pub ascii_armor: String,
}

/// The files one run of `scripts/package --sign` wrote, and the keys around them.
pub struct Release {
    pub out: PathBuf,
    pub version: String,
    /// Terraform's name for the host platform, e.g. `linux_amd64`.
    pub platform: String,
    /// The key that signed SHA256SUMS.
    pub key: SigningKey,
    /// A key that did not sign the release, and its own signature of the same SHA256SUMS: what a registry
    /// serving someone else's signature (or key) would hand out.
    pub other_key: SigningKey,
    pub other_signature: Vec<u8>,
}

impl Release {
    /// Packages the release into `out` (cleared first, so nothing from an earlier run is mistaken for this
    /// one's output) and signs it with a key made for the purpose in a throw-away GNUPGHOME beside `out`.
    /// It is a release build: call it once per test binary.
    pub fn package(out: &Path) -> Release {
        let gnupg_home = out.with_extension("gnupg");
        for dir in [out, gnupg_home.as_path()] {
            if dir.exists() {
                std::fs::remove_dir_all(dir)
                    .unwrap_or_else(|e| panic!("clearing {}: {e}", dir.display()));
            }
        }
        let gpg = Gpg::new(&gnupg_home);
        let key = gpg.generate("largek8s release signing (test) <release@largek8s.invalid>");
        let other_key = gpg.generate("someone else (test) <other@largek8s.invalid>");

        let package = run(Command::new(workspace_root().join("scripts/package"))
            .arg("--out")
            .arg(out)
            .arg("--sign")
            .arg(&key.fingerprint)
            .env("GNUPGHOME", &gnupg_home)
            .current_dir(workspace_root()));
        assert!(
            package.success,
            "scripts/package failed:\n{}",
            package.text()
        );

        let version = cargo_toml_version();
        let prefix = format!("{BINARY}_{version}_");
        let zips: Vec<String> = std::fs::read_dir(out)
            .unwrap_or_else(|e| panic!("reading {}: {e}", out.display()))
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&prefix) && name.ends_with(".zip"))
            .collect();
        assert_eq!(
            zips.len(),
            1,
            "expected one host-platform zip named {prefix}OS_ARCH.zip in {}, found {zips:?}",
            out.display()
        );
        let platform = zips[0][prefix.len()..zips[0].len() - ".zip".len()].to_string();
        let sums = out.join(format!("{BINARY}_{version}_SHA256SUMS"));
        let other_signature = gpg.detach_sign(&other_key, &sums);
        gpg.stop_agent();
        Release {
            out: out.to_path_buf(),
            version,
            platform,
            key,
            other_key,
            other_signature,
        }
    }

    pub fn mirror(&self) -> PathBuf {
        self.out.join("mirror")
    }

    pub fn zip_name(&self) -> String {
        format!("{BINARY}_{}_{}.zip", self.version, self.platform)
    }

    pub fn sums_name(&self) -> String {
        format!("{BINARY}_{}_SHA256SUMS", self.version)
    }

    pub fn signature_name(&self) -> String {
        format!("{}.sig", self.sums_name())
    }

    pub fn manifest_name(&self) -> String {
        format!("{BINARY}_{}_manifest.json", self.version)
    }

    pub fn public_key_name(&self) -> String {
        format!("{BINARY}_{}_signing_key.asc", self.version)
    }

    /// A file of the release, by name.
    pub fn read(&self, name: &str) -> Vec<u8> {
        let path = self.out.join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// (os, arch) of the host platform.
    pub fn os_arch(&self) -> (&str, &str) {
        self.platform
            .split_once('_')
            .unwrap_or_else(|| panic!("platform {:?} is not OS_ARCH", self.platform))
    }
}

/// The provider's `[package] version`, read the way scripts/package reads it.
pub fn cargo_toml_version() -> String {
    let run = run(Command::new("python3")
        .arg("-c")
        .arg("import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb'))['package']['version'])")
        .arg(workspace_root().join("Cargo.toml")));
    assert!(run.success, "reading Cargo.toml:\n{}", run.text());
    run.stdout.trim().to_string()
}

/// gpg(1) on a GNUPGHOME of its own, so no test touches the user's keyring.
struct Gpg {
    home: PathBuf,
}

impl Gpg {
    fn new(home: &Path) -> Self {
        std::fs::create_dir_all(home)
            .unwrap_or_else(|e| panic!("creating {}: {e}", home.display()));
        // gpg refuses a home directory others can read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod 700 {}: {e}", home.display()));
        Gpg {
            home: home.to_path_buf(),
        }
    }

    fn gpg(&self, args: &[&str]) -> Run {
        let run = run(Command::new("gpg")
            .arg("--batch")
            .args(args)
            .env("GNUPGHOME", &self.home));
        assert!(
            run.success,
            "gpg {args:?} failed (GnuPG comes from the Debian package gnupg):\n{}",
            run.text()
        );
        run
    }

    /// A new RSA signing key without passphrase (the Terraform Registry accepts RSA and DSA keys).
    fn generate(&self, uid: &str) -> SigningKey {
        self.gpg(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-generate-key",
            uid,
            "rsa3072",
            "sign",
            "never",
        ]);
        let listing = self.gpg(&["--with-colons", "--list-keys", uid]).stdout;
        // pub:u:3072:1:<long key ID>:…  then  fpr:::::::::<fingerprint>:
        let field = |kind: &str, index: usize| {
            listing
                .lines()
                .find(|l| l.starts_with(kind))
                .and_then(|l| l.split(':').nth(index))
                .map(str::to_string)
                .unwrap_or_else(|| panic!("no {kind} line in gpg's listing:\n{listing}"))
        };
        let key_id = field("pub:", 4);
        let fingerprint = field("fpr:", 9);
        let ascii_armor = self.gpg(&["--armor", "--export", &fingerprint]).stdout;
        SigningKey {
            key_id,
            fingerprint,
            ascii_armor,
        }
    }

    fn detach_sign(&self, key: &SigningKey, file: &Path) -> Vec<u8> {
        let signature = self.home.join("detached.sig");
        self.gpg(&[
            "--yes",
            "--local-user",
            &key.fingerprint,
            "--detach-sign",
            "--output",
            &signature.display().to_string(),
            &file.display().to_string(),
        ]);
        std::fs::read(&signature).unwrap_or_else(|e| panic!("reading {}: {e}", signature.display()))
    }

    /// gpg started an agent for this home; it would outlive the tests.
    fn stop_agent(&self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", &self.home)
            .status();
    }
}

/// A configuration that needs the provider installed and running, and nothing from Azure: one function call.
pub fn layout_config(source: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    largek8s = {{\n      source = \"{source}\"\n    }}\n  }}\n}}\n\n\
         output \"layout\" {{\n  value = provider::largek8s::pool_layout(450, 100)\n}}\n"
    )
}

/// A working directory whose CLI config (`terraform.rc`) says where providers are installed from, as a
/// user's would: no dev_overrides, no plugin cache.
pub struct InstallWorkspace {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl InstallWorkspace {
    pub fn new(cli_config: &str, main_tf: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("largek8s-install-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        for (name, text) in [("terraform.rc", cli_config), ("main.tf", main_tf)] {
            std::fs::write(dir.path().join(name), text)
                .unwrap_or_else(|e| panic!("writing {name}: {e}"));
        }
        InstallWorkspace {
            dir,
            env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds an environment variable for every later terraform run.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn terraform(&self, args: &[&str]) -> Run {
        let mut cmd = crate::terraform_in(self.path(), args);
        // A cached copy would be installed instead of the one under test.
        cmd.env_remove("TF_PLUGIN_CACHE_DIR");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }

    pub fn lock_file(&self) -> String {
        std::fs::read_to_string(self.path().join(".terraform.lock.hcl"))
            .unwrap_or_else(|e| panic!("reading .terraform.lock.hcl: {e}"))
    }

    /// Applies the [`layout_config`] and returns its output: proof that the installed provider runs.
    pub fn apply_layout(&self) -> serde_json::Value {
        let apply = self.terraform(&["apply", "-auto-approve", "-no-color"]);
        assert!(apply.success, "terraform apply failed:\n{}", apply.text());
        let output = self.terraform(&["output", "-json", "layout"]);
        assert!(
            output.success,
            "terraform output failed:\n{}",
            output.text()
        );
        serde_json::from_str(&output.stdout)
            .unwrap_or_else(|e| panic!("output is not JSON ({e}):\n{}", output.stdout))
    }
}
