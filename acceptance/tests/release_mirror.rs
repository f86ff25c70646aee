//! The release that `scripts/package` writes, installed the way users install it: real `terraform init` from a
//! filesystem mirror (no dev_overrides), `terraform providers lock` against that mirror, and the artifacts'
//! checksums, manifest and runtime dependencies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use largek8s_acceptance::{required_providers, terraform_binary, Run, SOURCE};

const BINARY: &str = "terraform-provider-largek8s";

/// The files one run of `scripts/package` wrote.
struct Release {
    out: PathBuf,
    version: String,
    /// Terraform's name for the host platform, e.g. `linux_amd64`.
    platform: String,
}

impl Release {
    fn mirror(&self) -> PathBuf {
        self.out.join("mirror")
    }

    fn zip_name(&self) -> String {
        format!("{BINARY}_{}_{}.zip", self.version, self.platform)
    }
}

fn run(cmd: &mut Command) -> Run {
    let output: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run::from_output(output)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The provider's `[package] version`, read the way scripts/package reads it.
fn cargo_toml_version() -> String {
    let run = run(Command::new("python3")
        .arg("-c")
        .arg("import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb'))['package']['version'])")
        .arg(workspace_root().join("Cargo.toml")));
    assert!(run.success, "reading Cargo.toml:\n{}", run.text());
    run.stdout.trim().to_string()
}

/// Runs `scripts/package` once per test binary (it is a release build) into a directory under cargo's
/// per-target temp dir, cleared first so nothing from an earlier run is mistaken for this one's output.
fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("release_mirror");
        if out.exists() {
            std::fs::remove_dir_all(&out)
                .unwrap_or_else(|e| panic!("clearing {}: {e}", out.display()));
        }
        let run = run(Command::new(workspace_root().join("scripts/package"))
            .arg("--out")
            .arg(&out)
            .current_dir(workspace_root()));
        assert!(run.success, "scripts/package failed:\n{}", run.text());

        let version = cargo_toml_version();
        let prefix = format!("{BINARY}_{version}_");
        let zips: Vec<String> = std::fs::read_dir(&out)
            .unwrap_or_else(|e| panic!("reading {}: {e}", out.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&prefix) && name.ends_with(".zip"))
            .collect();
        assert_eq!(
            zips.len(),
            1,
            "expected one host-platform zip named {prefix}OS_ARCH.zip in {}, found {zips:?}",
            out.display()
        );
        let platform = zips[0][prefix.len()..zips[0].len() - ".zip".len()].to_string();
        Release {
            out,
            version,
            platform,
        }
    })
}

/// A working directory whose CLI config installs largek8s/largek8s only from the release's filesystem mirror.
struct MirrorWorkspace {
    dir: tempfile::TempDir,
}

impl MirrorWorkspace {
    fn new(release: &Release) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("largek8s-mirror-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let rc = format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"{SOURCE}\"]\n  }}\n  direct {{\n    exclude = [\"{SOURCE}\"]\n  }}\n}}\n",
            release.mirror().display()
        );
        std::fs::write(dir.path().join("terraform.rc"), rc)
            .unwrap_or_else(|e| panic!("writing terraform.rc: {e}"));
        std::fs::write(
            dir.path().join("main.tf"),
            format!(
                "{}\noutput \"layout\" {{\n  value = provider::largek8s::pool_layout(450, 100)\n}}\n",
                required_providers()
            ),
        )
        .unwrap_or_else(|e| panic!("writing main.tf: {e}"));
        MirrorWorkspace { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn terraform(&self, args: &[&str]) -> Run {
        run(Command::new(terraform_binary())
            .args(args)
            .current_dir(self.path())
            .env("TF_CLI_CONFIG_FILE", self.path().join("terraform.rc"))
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env_remove("TF_PLUGIN_CACHE_DIR")
            .env_remove("TF_LOG")
            .env_remove("TF_LOG_PROVIDER")
            .env_remove("TF_REATTACH_PROVIDERS"))
    }

    fn lock_file(&self) -> String {
        std::fs::read_to_string(self.path().join(".terraform.lock.hcl"))
            .unwrap_or_else(|e| panic!("reading .terraform.lock.hcl: {e}"))
    }
}

/// Unpacks the packaged binary (with Python's zipfile: no zip tool or crate needed) and returns its path.
fn unpack_binary(release: &Release, into: &Path) -> PathBuf {
    let run = run(Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint('\\n'.join(z.namelist()))\nz.extractall(sys.argv[2])",
        )
        .arg(release.out.join(release.zip_name()))
        .arg(into));
    assert!(
        run.success,
        "unzipping {}:\n{}",
        release.zip_name(),
        run.text()
    );
    let names: Vec<&str> = run.stdout.lines().collect();
    let expected = format!("{BINARY}_v{}", release.version);
    assert_eq!(
        names,
        [expected.as_str()],
        "the zip must hold exactly the provider binary"
    );
    into.join(expected)
}

#[test]
fn init_installs_from_the_filesystem_mirror_and_apply_runs_the_packaged_provider() {
    let release = release();
    let ws = MirrorWorkspace::new(release);

    let init = ws.terraform(&["init", "-no-color"]);
    assert!(init.success, "terraform init failed:\n{}", init.text());
    assert!(
        init.stdout
            .contains(&format!("Installing {SOURCE} v{}", release.version)),
        "init should install the packaged version from the mirror:\n{}",
        init.text()
    );
    assert!(
        !init.text().contains("Provider development overrides"),
        "no dev_overrides may be in play:\n{}",
        init.text()
    );

    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(apply.success, "terraform apply failed:\n{}", apply.text());
    let output = ws.terraform(&["output", "-json", "layout"]);
    assert!(
        output.success,
        "terraform output failed:\n{}",
        output.text()
    );
    let layout: serde_json::Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|e| panic!("output is not JSON ({e}):\n{}", output.stdout));
    assert_eq!(layout, serde_json::json!([100, 100, 100, 100, 50]));
}

#[test]
fn providers_lock_records_a_hash_from_the_mirror() {
    let release = release();
    let ws = MirrorWorkspace::new(release);
    let mirror = format!("-fs-mirror={}", release.mirror().display());
    let platform = format!("-platform={}", release.platform);

    let lock = ws.terraform(&["providers", "lock", "-no-color", &mirror, &platform, SOURCE]);
    assert!(
        lock.success,
        "terraform providers lock failed:\n{}",
        lock.text()
    );

    let lock_file = ws.lock_file();
    let block = lock_file
        .split("provider \"")
        .find(|block| block.starts_with(&format!("registry.terraform.io/{SOURCE}\"")))
        .unwrap_or_else(|| panic!("no block for {SOURCE} in .terraform.lock.hcl:\n{lock_file}"));
    assert!(
        block.lines().any(|line| {
            let line = line.trim();
            line.starts_with("version") && line.ends_with(&format!("= \"{}\"", release.version))
        }),
        "the lock should pin the packaged version:\n{lock_file}"
    );
    assert!(
        block.contains("\"h1:") || block.contains("\"zh:"),
        "the lock should record an h1: or zh: hash:\n{lock_file}"
    );
}

#[test]
fn sha256sums_cover_the_zip_and_the_manifest() {
    let release = release();
    let sums = format!("{BINARY}_{}_SHA256SUMS", release.version);
    let manifest = format!("{BINARY}_{}_manifest.json", release.version);

    let check = run(Command::new("sha256sum")
        .args(["--check", "--strict", &sums])
        .current_dir(&release.out));
    assert!(check.success, "sha256sum --check {sums}:\n{}", check.text());
    for file in [release.zip_name(), manifest.clone()] {
        assert!(
            check.stdout.contains(&format!("{file}: OK")),
            "{sums} must list {file}:\n{}",
            check.text()
        );
    }

    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(release.out.join(&manifest))
            .unwrap_or_else(|e| panic!("reading {manifest}: {e}")),
    )
    .unwrap_or_else(|e| panic!("{manifest} is not JSON: {e}"));
    assert_eq!(
        manifest,
        serde_json::json!({"version": 1, "metadata": {"protocol_versions": ["6.0"]}})
    );

    let mirrored = release
        .mirror()
        .join("registry.terraform.io")
        .join(SOURCE)
        .join(release.zip_name());
    assert_eq!(
        std::fs::read(&mirrored).unwrap_or_else(|e| panic!("reading {}: {e}", mirrored.display())),
        std::fs::read(release.out.join(release.zip_name())).unwrap(),
        "the mirror must hold the released zip byte for byte"
    );
}

/// Whether a shared object (by file name without `.so…`) comes with every glibc system: glibc's own libraries,
/// the kernel's vDSO, and GCC's libgcc_s (which Rust's unwinder needs and glibc itself loads).
fn is_glibc(stem: &str) -> bool {
    const GLIBC: &[&str] = &[
        "linux-vdso",
        "libc",
        "libm",
        "libgcc_s",
        "libpthread",
        "libdl",
        "librt",
    ];
    // The dynamic loader is named after the architecture: ld-linux-x86-64, ld-linux-aarch64…
    GLIBC.contains(&stem) || stem.starts_with("ld-linux")
}

#[test]
fn linux_binary_links_nothing_beyond_glibc() {
    let release = release();
    if !release.platform.starts_with("linux_") {
        eprintln!(
            "skipped: ldd applies to Linux builds, this host packages {}",
            release.platform
        );
        return;
    }
    let unpacked = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let binary = unpack_binary(release, unpacked.path());

    let ldd = run(Command::new("ldd").arg(&binary));
    assert!(ldd.success, "ldd {}:\n{}", binary.display(), ldd.text());
    let foreign: Vec<&str> = ldd
        .stdout
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .filter(|line| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
            let path = line.split_whitespace().next().unwrap_or_default();
            let file = path.rsplit('/').next().unwrap_or(path);
            let stem = file.split(".so").next().unwrap_or(file);
            !is_glibc(stem)
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "the packaged binary must need nothing beyond glibc, but links {foreign:?}:\n{}",
        ldd.stdout
    );
}
