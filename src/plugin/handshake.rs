//! The go-plugin handshake: what Terraform puts in our environment, and the one line we answer with.
//!
//! go-plugin documents the contract in its `docs/internals.md`: the host sets a magic cookie and the protocol
//! versions it speaks, the plugin prints `CORE|APP|NETWORK|ADDR|PROTOCOL|CERT` on stdout and then serves.

use std::fmt;

/// Name and value of the cookie Terraform sets for its providers; without it we are being run by hand.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// go-plugin's own protocol version (the first field of the handshake line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Terraform plugin protocol major version this provider speaks.
pub const APP_PROTOCOL_VERSION: u32 = 6;

/// Why the environment does not let us serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error(
        "This binary is a plugin for Terraform and is not meant to be run directly.\n\
         Terraform starts it when a configuration uses the provider largek8s/largek8s: run `terraform init`\n\
         and `terraform plan` in such a configuration instead. To debug the provider, run it with --debug\n\
         and export the TF_REATTACH_PROVIDERS line it prints."
    )]
    NotLaunchedByTerraform,
    #[error(
        "Terraform offered plugin protocol versions [{offered}], but this provider speaks only version 6.\n\
         Use Terraform 1.0 or later (this provider is tested with 1.11)."
    )]
    UnsupportedProtocol { offered: String },
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate: {0}")]
    BadClientCertificate(String),
}

/// Transport security asked for by the host.
#[derive(Clone, PartialEq, Eq)]
pub enum Security {
    /// `TF_DISABLE_PLUGIN_TLS` (or an older host): plain gRPC over the socket.
    Plaintext,
    /// AutoMTLS: the host's client certificate, DER, which is the only one we accept.
    MutualTls { client_cert_der: Vec<u8> },
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Security::Plaintext => f.write_str("Plaintext"),
            Security::MutualTls { client_cert_der } => {
                write!(
                    f,
                    "MutualTls({} byte client certificate)",
                    client_cert_der.len()
                )
            }
        }
    }
}

/// Everything the host told us through the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeConfig {
    pub security: Security,
    /// Directory for the unix socket (`PLUGIN_UNIX_SOCKET_DIR`), or the system temp dir when unset.
    pub socket_dir: Option<String>,
}

impl HandshakeConfig {
    /// Reads the handshake from an environment lookup (a closure, so tests need not touch the process env).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, HandshakeError> {
        if env(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
            return Err(HandshakeError::NotLaunchedByTerraform);
        }
        let offered = env("PLUGIN_PROTOCOL_VERSIONS").unwrap_or_default();
        if !protocol_offered(&offered, APP_PROTOCOL_VERSION) {
            return Err(HandshakeError::UnsupportedProtocol { offered });
        }
        let security = match env("PLUGIN_CLIENT_CERT").filter(|pem| !pem.trim().is_empty()) {
            None => Security::Plaintext,
            Some(pem) => Security::MutualTls {
                client_cert_der: first_pem_certificate(&pem)?,
            },
        };
        let socket_dir = env("PLUGIN_UNIX_SOCKET_DIR").filter(|d| !d.is_empty());
        Ok(HandshakeConfig {
            security,
            socket_dir,
        })
    }
}

/// `PLUGIN_PROTOCOL_VERSIONS` is a comma-separated list in any order ("5,6"); hosts older than that set none,
/// which go-plugin treats as "whatever the plugin speaks".
fn protocol_offered(offered: &str, wanted: u32) -> bool {
    if offered.trim().is_empty() {
        return true;
    }
    offered
        .split(',')
        .filter_map(|v| v.trim().parse::<u32>().ok())
        .any(|v| v == wanted)
}

fn first_pem_certificate(pem: &str) -> Result<Vec<u8>, HandshakeError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|e| HandshakeError::BadClientCertificate(e.to_string()))
}

/// The single line go-plugin reads from our stdout. `server_cert_der` is empty for plaintext.
pub fn handshake_line(network: &str, address: &str, server_cert_der: &[u8]) -> String {
    use base64::Engine;
    // go-plugin decodes the certificate with base64.RawStdEncoding: standard alphabet, no padding.
    let cert = base64::engine::general_purpose::STANDARD_NO_PAD.encode(server_cert_der);
    format!("{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{network}|{address}|grpc|{cert}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn refuses_to_run_without_the_magic_cookie() {
        let err = HandshakeConfig::from_env(env_of(&[])).unwrap_err();
        assert_eq!(err, HandshakeError::NotLaunchedByTerraform);
        assert!(err.to_string().contains("plugin for Terraform"));
        let wrong = env_of(&[(MAGIC_COOKIE_KEY, "nope")]);
        assert!(HandshakeConfig::from_env(wrong).is_err());
    }

    #[test]
    fn picks_protocol_6_from_any_order() {
        for offered in ["5,6", "6,5", "6", " 4 , 6 ", ""] {
            let env = env_of(&[
                (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
                ("PLUGIN_PROTOCOL_VERSIONS", offered),
            ]);
            let cfg = HandshakeConfig::from_env(env).unwrap();
            assert_eq!(cfg.security, Security::Plaintext, "offered {offered:?}");
        }
    }

    #[test]
    fn refuses_when_protocol_6_is_not_offered() {
        let env = env_of(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "4,5"),
        ]);
        let err = HandshakeConfig::from_env(env).unwrap_err();
        assert_eq!(
            err,
            HandshakeError::UnsupportedProtocol {
                offered: "4,5".into()
            }
        );
        assert!(err.to_string().contains("only version 6"));
    }

    #[test]
    fn a_client_certificate_turns_on_mutual_tls() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let pem = cert.cert.pem();
        let env = env_of(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
            ("PLUGIN_CLIENT_CERT", &pem),
        ]);
        let cfg = HandshakeConfig::from_env(env).unwrap();
        assert_eq!(
            cfg.security,
            Security::MutualTls {
                client_cert_der: cert.cert.der().to_vec()
            }
        );
    }

    #[test]
    fn a_garbled_client_certificate_is_an_error_not_plaintext() {
        let env = env_of(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            (
                "PLUGIN_CLIENT_CERT",
                "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            ),
        ]);
        assert!(matches!(
            HandshakeConfig::from_env(env),
            Err(HandshakeError::BadClientCertificate(_))
        ));
    }

    #[test]
    fn handshake_line_has_six_fields_and_unpadded_base64() {
        let line = handshake_line("unix", "/tmp/plugin1", &[1, 2, 3, 4]);
        assert_eq!(line, "1|6|unix|/tmp/plugin1|grpc|AQIDBA");
        assert_eq!(
            handshake_line("unix", "/tmp/p", &[]),
            "1|6|unix|/tmp/p|grpc|"
        );
    }
}
