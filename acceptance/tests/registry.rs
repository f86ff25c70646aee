//! The signed release installed as HCP Terraform and a private registry install it: real `terraform init`
//! against a loopback HTTPS provider registry (service discovery, versions, download document, SHA256SUMS and
//! its signature), trusted through a CA made here; a tampered zip and a signature by another key are
//! refused by terraform itself. The same server answers the provider network mirror protocol.
//!
//! Protocols: <https://developer.hashicorp.com/terraform/internals/provider-registry-protocol>,
//! <https://developer.hashicorp.com/terraform/internals/provider-network-mirror-protocol>,
//! <https://developer.hashicorp.com/terraform/internals/remote-service-discovery>.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use largek8s_acceptance::release::{layout_config, InstallWorkspace, Release, SigningKey};
use largek8s_acceptance::SOURCE;
use serde_json::{json, Value};

const NAMESPACE: &str = "largek8s";
const TYPE: &str = "largek8s";

/// The signed release, packaged once for this test binary under cargo's per-target temp dir.
fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE
        .get_or_init(|| Release::package(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("registry")))
}

/// What the registry hands out. Each test serves the release as packaged or changes one thing in it.
#[derive(Clone)]
struct Catalogue {
    version: String,
    os: String,
    arch: String,
    zip_name: String,
    zip: Vec<u8>,
    sums_name: String,
    sums: Vec<u8>,
    signature: Vec<u8>,
    key: SigningKey,
    /// The zip's SHA-256 as SHA256SUMS records it.
    shasum: String,
}

impl Catalogue {
    fn of(release: &Release) -> Self {
        let (os, arch) = release.os_arch();
        let sums = release.read(&release.sums_name());
        let zip_name = release.zip_name();
        let shasum = String::from_utf8_lossy(&sums)
            .lines()
            .find_map(|line| {
                let (hash, file) = line.split_once("  ")?;
                (file == zip_name).then(|| hash.to_string())
            })
            .unwrap_or_else(|| panic!("{} does not list {zip_name}", release.sums_name()));
        Catalogue {
            version: release.version.clone(),
            os: os.to_string(),
            arch: arch.to_string(),
            zip: release.read(&zip_name),
            zip_name,
            sums_name: release.sums_name(),
            sums,
            signature: release.read(&release.signature_name()),
            key: release.key.clone(),
            shasum,
        }
    }

    /// The answer to `GET path`: status, content type, body. `base` is `https://localhost:PORT`.
    fn answer(&self, path: &str, base: &str) -> (u16, &'static str, Vec<u8>) {
        let json_body = |v: Value| (200, "application/json", v.to_string().into_bytes());
        let providers = format!("/v1/providers/{NAMESPACE}/{TYPE}/");
        let download = format!(
            "{providers}{}/download/{}/{}",
            self.version, self.os, self.arch
        );
        let file = |name: &str| format!("{base}/releases/{name}");
        let mirrored = format!("/{NAMESPACE}/{TYPE}/");
        let platform = format!("{}_{}", self.os, self.arch);
        match path {
            // Remote service discovery: where this host's provider registry API lives.
            "/.well-known/terraform.json" => json_body(json!({ "providers.v1": "/v1/providers/" })),
            p if p == format!("{providers}versions") => json_body(json!({
                "versions": [{
                    "version": self.version,
                    "protocols": ["6.0"],
                    "platforms": [{ "os": self.os, "arch": self.arch }],
                }],
            })),
            p if p == download => json_body(json!({
                "protocols": ["6.0"],
                "os": self.os,
                "arch": self.arch,
                "filename": self.zip_name,
                "download_url": file(&self.zip_name),
                "shasums_url": file(&self.sums_name),
                "shasums_signature_url": file(&format!("{}.sig", self.sums_name)),
                "shasum": self.shasum,
                "signing_keys": {
                    "gpg_public_keys": [{
                        "key_id": self.key.key_id,
                        "ascii_armor": self.key.ascii_armor,
                    }],
                },
            })),
            p if p == format!("/releases/{}", self.zip_name) => {
                (200, "application/zip", self.zip.clone())
            }
            p if p == format!("/releases/{}", self.sums_name) => {
                (200, "text/plain", self.sums.clone())
            }
            p if p == format!("/releases/{}.sig", self.sums_name) => {
                (200, "application/octet-stream", self.signature.clone())
            }
            // The network mirror protocol, under /mirror/: HOSTNAME/NAMESPACE/TYPE/index.json and VERSION.json.
            p if p.starts_with("/mirror/") && p.ends_with(&format!("{mirrored}index.json")) => {
                json_body(json!({ "versions": { self.version.as_str(): {} } }))
            }
            p if p.starts_with("/mirror/")
                && p.ends_with(&format!("{mirrored}{}.json", self.version)) =>
            {
                json_body(json!({
                    "archives": {
                        platform: {
                            "url": file(&self.zip_name),
                            // zh: is Terraform's hash of the zip itself, the one SHA256SUMS also records.
                            "hashes": [format!("zh:{}", self.shasum)],
                        },
                    },
                }))
            }
            _ => (
                404,
                "application/json",
                b"{\"errors\":[\"Not Found\"]}".to_vec(),
            ),
        }
    }
}

/// A loopback HTTPS server answering from a [`Catalogue`], with a certificate for `localhost` issued by a
/// CA made for it; `ca_file` is that CA, for terraform's `SSL_CERT_FILE`.
struct Registry {
    port: u16,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
    stopping: Arc<AtomicBool>,
}

impl Registry {
    fn start(catalogue: Catalogue) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let (ca_pem, tls) = tls_config();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap_or_else(|e| panic!("writing ca.pem: {e}"));

        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot listen on loopback: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"))
            .port();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let catalogue = Arc::new(catalogue);
        let base = format!("https://localhost:{port}");
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (tls, catalogue, base) = (tls.clone(), catalogue.clone(), base.clone());
                std::thread::spawn(move || serve(conn, tls, &catalogue, &base));
            }
        });
        Registry {
            port,
            ca_file,
            _dir: dir,
            stopping,
        }
    }

    /// The provider's source address on this registry.
    fn source(&self) -> String {
        format!("localhost:{}/{NAMESPACE}/{TYPE}", self.port)
    }

    fn mirror_url(&self) -> String {
        format!("https://localhost:{}/mirror/", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A CA, a `localhost` certificate it issued, and the server configuration presenting that certificate.
fn tls_config() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };
    let fail = |e: rcgen::Error| -> ! { panic!("making the test CA: {e}") };
    let ca_key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail(e));
    ca.distinguished_name
        .push(DnType::CommonName, "largek8s registry test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap_or_else(|e| fail(e));
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string()]).unwrap_or_else(|e| fail(e));
    leaf.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .unwrap_or_else(|e| fail(e));

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
        })
        .unwrap_or_else(|e| panic!("TLS server configuration: {e}"));
    (ca_cert.pem(), Arc::new(config))
}

/// One HTTP/1.1 exchange over TLS, then the connection closes. A client that goes away mid-request is
/// simply dropped.
fn serve(conn: TcpStream, tls: Arc<rustls::ServerConfig>, catalogue: &Catalogue, base: &str) {
    let Ok(server) = rustls::ServerConnection::new(tls) else {
        return;
    };
    let mut stream = rustls::StreamOwned::new(server, conn);
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut request_line = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (
        request_line.next().unwrap_or_default(),
        request_line.next().unwrap_or_default(),
    );
    let path = target.split('?').next().unwrap_or_default();
    let (status, content_type, body) = match method {
        "GET" => catalogue.answer(path, base),
        _ => (405, "text/plain", b"GET only".to_vec()),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let header = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(header.as_bytes())
        .and_then(|()| stream.write_all(&body))
        .and_then(|()| stream.flush());
    stream.conn.send_close_notify();
    let _ = stream.flush();
}

/// A workspace that installs `source` as the CLI config says, trusting the registry's CA.
fn workspace(registry: &Registry, cli_config: &str, source: &str) -> InstallWorkspace {
    let mut ws = InstallWorkspace::new(cli_config, &layout_config(source));
    ws.env("SSL_CERT_FILE", &registry.ca_file.display().to_string());
    ws
}

/// Straight from the origin registry, as `terraform init` does by default.
const DIRECT: &str = "provider_installation {\n  direct {}\n}\n";

#[test]
fn init_installs_from_the_registry_and_verifies_the_signature() {
    let release = release();
    let registry = Registry::start(Catalogue::of(release));
    let source = registry.source();
    let ws = workspace(&registry, DIRECT, &source);

    let init = ws.terraform(&["init", "-no-color"]);
    assert!(init.success, "terraform init failed:\n{}", init.text());
    // What a user sees (shown with --nocapture).
    eprintln!("terraform init:\n{}", init.stdout);
    let installed = format!(
        "Installed {source} v{} (self-signed, key ID {})",
        release.version, release.key.key_id
    );
    assert!(
        init.stdout.contains(&installed),
        "init should report the verified signature ({installed:?}):\n{}",
        init.text()
    );
    assert_eq!(ws.apply_layout(), json!([100, 100, 100, 100, 50]));

    // `providers lock` asks the registry again and records the signed checksum of every listed platform
    // (zh:) besides the hash of the installed package (h1:).
    let lock = ws.terraform(&["providers", "lock", "-no-color"]);
    assert!(
        lock.success,
        "terraform providers lock failed:\n{}",
        lock.text()
    );
    let lock_file = ws.lock_file();
    let shasum = Catalogue::of(release).shasum;
    for expected in [
        format!("provider \"{source}\""),
        format!("\"zh:{shasum}\""),
        "\"h1:".to_string(),
    ] {
        assert!(
            lock_file.contains(&expected),
            "the lock file should contain {expected:?}:\n{lock_file}"
        );
    }
    assert!(
        lock_file.lines().any(|line| {
            let line = line.trim();
            line.starts_with("version") && line.ends_with(&format!("= \"{}\"", release.version))
        }),
        "the lock should pin the released version:\n{lock_file}"
    );
}

#[test]
fn a_tampered_zip_fails_init_with_terraforms_checksum_error() {
    let release = release();
    let mut catalogue = Catalogue::of(release);
    // One byte changed in the stored binary, as a compromised download host would serve it.
    let middle = catalogue.zip.len() / 2;
    catalogue.zip[middle] ^= 0xff;
    let registry = Registry::start(catalogue);
    let ws = workspace(&registry, DIRECT, &registry.source());

    let init = ws.terraform(&["init", "-no-color"]);
    assert!(
        !init.success,
        "init must refuse a tampered zip:\n{}",
        init.text()
    );
    assert!(
        init.stderr.contains("Failed to install provider") && init.stderr.contains("checksum"),
        "terraform's own checksum error is expected:\n{}",
        init.text()
    );
    assert!(
        !ws.path()
            .join(".terraform/providers")
            .join(registry.source())
            .exists(),
        "nothing may be installed from a tampered zip"
    );
}

#[test]
fn a_signature_by_another_key_fails_init() {
    let release = release();
    let mut catalogue = Catalogue::of(release);
    // The genuine SHA256SUMS and key, but a signature made by a key the registry does not list.
    catalogue.signature = release.other_signature.clone();
    let registry = Registry::start(catalogue);
    let ws = workspace(&registry, DIRECT, &registry.source());

    let init = ws.terraform(&["init", "-no-color"]);
    assert!(
        !init.success,
        "init must refuse a signature by an unlisted key:\n{}",
        init.text()
    );
    assert!(
        init.stderr.contains("Failed to install provider") && init.stderr.contains("signature"),
        "terraform's own signature error is expected:\n{}",
        init.text()
    );

    // And the other way round: the signature is genuine but the registry lists someone else's key.
    let mut catalogue = Catalogue::of(release);
    catalogue.key = release.other_key.clone();
    let registry = Registry::start(catalogue);
    let ws = workspace(&registry, DIRECT, &registry.source());
    let init = ws.terraform(&["init", "-no-color"]);
    assert!(
        !init.success && init.stderr.contains("signature"),
        "init must refuse a signature the listed key did not make:\n{}",
        init.text()
    );
}

#[test]
fn init_installs_through_a_network_mirror() {
    let release = release();
    let registry = Registry::start(Catalogue::of(release));
    // The public address largek8s/largek8s, fetched only from the mirror: no request leaves the machine.
    let rc = format!(
        "provider_installation {{\n  network_mirror {{\n    url     = \"{}\"\n    include = [\"{SOURCE}\"]\n  }}\n  \
         direct {{\n    exclude = [\"{SOURCE}\"]\n  }}\n}}\n",
        registry.mirror_url()
    );
    let ws = workspace(&registry, &rc, SOURCE);

    let init = ws.terraform(&["init", "-no-color"]);
    assert!(init.success, "terraform init failed:\n{}", init.text());
    assert!(
        init.stdout
            .contains(&format!("Installed {SOURCE} v{}", release.version)),
        "init should install the release from the mirror:\n{}",
        init.text()
    );
    assert_eq!(ws.apply_layout(), json!([100, 100, 100, 100, 50]));
    let lock_file = ws.lock_file();
    assert!(
        lock_file.contains(&format!("provider \"registry.terraform.io/{SOURCE}\""))
            && lock_file.contains("\"h1:"),
        "the lock should record the installed package's hash:\n{lock_file}"
    );
}
