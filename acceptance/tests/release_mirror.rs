//! The release that `scripts/package` writes, installed the way users install it: real `terraform init` from a
//! filesystem mirror (no dev_overrides), `terraform providers lock` against that mirror, and the artifacts'
//! checksums, signature, manifest and runtime dependencies. acceptance/tests/registry.rs installs the same
//! release through the provider registry and network mirror protocols.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use largek8s_acceptance::release::{layout_config, run, InstallWorkspace, Release, BINARY};
use largek8s_acceptance::SOURCE;

/// The signed release, packaged once for this test binary under cargo's per-target temp dir.
fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        Release::package(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("release_mirror"))
    })
}

/// A working directory whose CLI config installs largek8s/largek8s only from the release's filesystem mirror.
fn mirror_workspace(release: &Release) -> InstallWorkspace {
    let rc = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"{SOURCE}\"]\n  }}\n  direct {{\n    exclude = [\"{SOURCE}\"]\n  }}\n}}\n",
        release.mirror().display()
    );
    InstallWorkspace::new(&rc, &layout_config(SOURCE))
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
    let ws = mirror_workspace(release);

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

    let layout = ws.apply_layout();
    assert_eq!(layout, serde_json::json!([100, 100, 100, 100, 50]));
}

#[test]
fn providers_lock_records_a_hash_from_the_mirror() {
    let release = release();
    let ws = mirror_workspace(release);
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
    let sums = release.sums_name();
    let manifest = release.manifest_name();

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

#[test]
fn sha256sums_carry_a_detached_signature_that_the_published_key_verifies() {
    let release = release();
    let check = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let keyring = check.path().join("keyring.gpg");

    // A keyring made from the published .asc alone: the release must be verifiable by anyone holding it.
    let dearmor = run(Command::new("gpg")
        .args(["--batch", "--dearmor", "--output"])
        .arg(&keyring)
        .arg(release.out.join(release.public_key_name()))
        .env("GNUPGHOME", check.path()));
    assert!(dearmor.success, "gpg --dearmor:\n{}", dearmor.text());
    let signature = release.read(&release.signature_name());
    assert!(
        !signature.starts_with(b"-----BEGIN"),
        "the Terraform Registry wants a binary signature, not an armoured one"
    );
    let verify = run(Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring)
        .arg(release.out.join(release.signature_name()))
        .arg(release.out.join(release.sums_name())));
    assert!(verify.success, "gpgv:\n{}", verify.text());
    assert!(
        verify.stderr.contains("Good signature")
            && verify.stderr.contains(&release.key.fingerprint),
        "the signature should be good and made by the release key {}:\n{}",
        release.key.fingerprint,
        verify.text()
    );
    assert!(
        release
            .read(&release.public_key_name())
            .starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "the key beside the signature is ASCII-armoured"
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
