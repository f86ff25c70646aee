//! AutoMTLS: our own certificate for the handshake line, and a verifier that accepts only Terraform's.
//!
//! Terraform (go-plugin) hands us its client certificate in `PLUGIN_CLIENT_CERT` and trusts exactly the
//! certificate we print in the handshake line. Its certificate is a self-signed ECDSA P-521 CA certificate,
//! which WebPKI path building refuses as an end-entity certificate, so we pin it: the peer must present
//! those exact bytes and prove it holds the key (the TLS CertificateVerify signature, checked with aws-lc-rs,
//! which implements P-521).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("generating the plugin's certificate failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("configuring TLS failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificate we present, DER, plus its private key.
pub struct ServerIdentity {
    pub cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

/// The crypto provider for every TLS use in the plugin: aws-lc-rs, which verifies P-521 signatures.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A fresh self-signed certificate shaped like go-plugin's own: SAN `localhost`, usable for both ends,
/// marked as a CA because the host puts it in its root pool.
pub fn generate_identity() -> Result<ServerIdentity, TlsSetupError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "terraform-provider-largek8s");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(30);
    params.not_after = now + time::Duration::days(365 * 30);
    let cert = params.self_signed(&key)?;
    Ok(ServerIdentity {
        cert_der: cert.der().clone(),
        key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    })
}

/// Server side of AutoMTLS: our identity, Terraform's certificate required, HTTP/2 negotiated by ALPN
/// (grpc-go refuses TLS connections without it).
pub fn server_config(
    identity: &ServerIdentity,
    client_cert_der: Vec<u8>,
) -> Result<rustls::ServerConfig, TlsSetupError> {
    let provider = crypto_provider();
    let verifier = Arc::new(PinnedCertificate::new(
        client_cert_der,
        provider.signature_verification_algorithms,
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![identity.cert_der.clone()],
            identity.key_der.clone_key(),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Accepts exactly one certificate, by its DER bytes, and checks the handshake signatures made with its key.
#[derive(Debug)]
pub struct PinnedCertificate {
    der: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertificate {
    pub fn new(der: Vec<u8>, algorithms: WebPkiSupportedAlgorithms) -> Self {
        PinnedCertificate { der, algorithms }
    }

    /// True when `presented` is the pinned certificate and no chain was sent with it.
    pub fn matches(
        &self,
        presented: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> bool {
        intermediates.is_empty() && presented.as_ref() == self.der.as_slice()
    }

    pub fn check_tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    pub fn check_tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    pub fn schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for PinnedCertificate {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hint: Go's TLS client sends its only certificate when the server names no authorities.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.matches(end_entity, intermediates) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_is_a_parseable_certificate_for_localhost() {
        let id = generate_identity().unwrap();
        assert!(id.cert_der.len() > 100);
        // The DER must carry the SAN "localhost" that go-plugin's client uses as ServerName.
        let needle = b"localhost";
        assert!(id.cert_der.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn pinned_verifier_accepts_only_the_exact_certificate() {
        let pinned = generate_identity().unwrap();
        let other = generate_identity().unwrap();
        let verifier = PinnedCertificate::new(
            pinned.cert_der.to_vec(),
            crypto_provider().signature_verification_algorithms,
        );
        let now = UnixTime::now();
        assert!(verifier
            .verify_client_cert(&pinned.cert_der, &[], now)
            .is_ok());
        assert!(verifier
            .verify_client_cert(&other.cert_der, &[], now)
            .is_err());
        assert!(verifier
            .verify_client_cert(&pinned.cert_der, std::slice::from_ref(&other.cert_der), now)
            .is_err());
    }

    #[test]
    fn verifier_offers_p521_signatures() {
        let verifier =
            PinnedCertificate::new(vec![], crypto_provider().signature_verification_algorithms);
        assert!(verifier
            .schemes()
            .contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
    }
}
