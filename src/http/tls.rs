//! rustls server configurations for confer's two listeners.
//!
//! Owns: [`server_config`] for the shared public listener (lawyers and booths,
//! ALPN `h2` and `http/1.1`, optional client certificates) and
//! [`admin_server_config`] for the admin listener (no client certificates).
//! Every config is built with the ring provider explicitly
//! (`builder_with_provider`), never a process-wide default (docs/DESIGN.md, pitfalls).
//!
//! Client certificates on the shared listener. Lawyers' browsers present none;
//! booth kiosks present their booth certificate. Client auth is therefore optional
//! at the TLS layer, and a booth route that needs a certificate asks for a
//! [`crate::auth::booth::BoothIdentity`]. So that a booth with a certificate from the
//! wrong CA sees a clear HTTP error ("not issued by this facility's certificate
//! authority ...") instead of an opaque TLS alert, the handshake accepts any
//! presented chain *whose key the client proves it holds*, and the chain itself is
//! verified at the application layer by [`BoothVerifier`] (see
//! [`DeferredClientCertVerifier`] for why this is safe).
//!
//! Does not: read files (callers pass PEM bytes) or decide what a route requires.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

use crate::auth::booth::{BoothCaError, BoothVerifier};

/// ALPN protocols of both listeners, most preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A TLS configuration could not be built from the configured files.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("the certificate file holds no certificate")]
    NoCertificate,
    #[error("the certificate file is not valid PEM: {0}")]
    CertificatePem(String),
    #[error("the private key file holds no usable private key: {0}")]
    PrivateKey(String),
    #[error("the client CA (tls.client_ca) is unusable: {0}")]
    ClientCa(#[from] BoothCaError),
    #[error("rustls refused the configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// How the shared listener treats client certificates, handed to the application
/// layer together with the [`ServerConfig`] built from the same client CA.
///
/// The TLS layer only proves possession of the presented certificate's key;
/// [`ClientCertPolicy::booth_verifier`] is what decides whether the chain is a
/// booth of this facility. Put it in the application state; never trust
/// `PeerCertificates` without it.
#[derive(Debug, Clone)]
pub struct ClientCertPolicy {
    booth_verifier: BoothVerifier,
}

impl ClientCertPolicy {
    /// The application-layer verifier for booth certificates (same CA as the handshake hints).
    pub fn booth_verifier(&self) -> &BoothVerifier {
        &self.booth_verifier
    }

    /// The verifier, to keep in the application state.
    pub fn into_booth_verifier(self) -> BoothVerifier {
        self.booth_verifier
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Session resumption by stateless ticket on `config`: TLS 1.3 (and 1.2) tickets encrypted
/// under a key of this config only (random, rotated every 6 hours by rustls, never written
/// anywhere), and no session cache. The server keeps nothing per client for resumption:
/// rustls' default cache held two entries of every recent connection, small blocks left
/// among each connection's freed buffers that kept heap pages resident after visits ended
/// (heaptrack, loadtest/README.md), and a cache of 256 entries resumed few of a busy hour's
/// clients. A ticket carries what the cache entry did (the client certificate chain of a
/// booth included), so the application checks a resumed connection as a new one. Each
/// listener has its own ticketer: a ticket of the admin listener (no client certificates)
/// never resumes on the public one, and the other way round.
fn resume_by_ticket(config: &mut ServerConfig) -> Result<(), TlsConfigError> {
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(())
}

fn parse_chain(cert_chain_pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::CertificatePem(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsConfigError::NoCertificate);
    }
    Ok(chain)
}

fn parse_key(key_pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsConfigError::PrivateKey(e.to_string()))
}

/// The shared public listener: server certificate chain and key (PEM), the
/// facility CA (PEM) for booth certificates; client certificates optional.
pub fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: &[u8],
) -> Result<(Arc<ServerConfig>, ClientCertPolicy), TlsConfigError> {
    let chain = parse_chain(cert_chain_pem)?;
    let key = parse_key(key_pem)?;
    let booth_verifier = BoothVerifier::from_ca_pem(client_ca_pem)?;
    let provider = provider();
    let client_verifier = Arc::new(DeferredClientCertVerifier {
        ca_subjects: booth_verifier.ca_subjects().to_vec(),
        provider: provider.clone(),
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    resume_by_ticket(&mut config)?;
    Ok((Arc::new(config), ClientCertPolicy { booth_verifier }))
}

/// The admin listener: server certificate chain and key (PEM), no client certificates.
pub fn admin_server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(parse_chain(cert_chain_pem)?, parse_key(key_pem)?)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    resume_by_ticket(&mut config)?;
    Ok(Arc::new(config))
}

/// **Permissive by design**: a client certificate verifier that accepts any
/// presented chain without checking who issued it, and defers that decision to
/// the application layer.
///
/// What it does check: that the client holds the private key of the presented
/// end-entity certificate (the TLS 1.2/1.3 CertificateVerify signature, verified
/// with the ring provider's algorithms). What it hints: the facility CA subjects,
/// so a kiosk browser offers its booth certificate and a lawyer's browser is not
/// prompted for an unrelated one.
///
/// Why that is safe: a chain accepted here is only ever *data* (the
/// `PeerCertificates` request extension). The one consumer that turns it into a
/// trusted fact is [`BoothVerifier::verify`], which runs the full webpki chain
/// verification against the facility CA and is the only producer of
/// [`crate::auth::booth::BoothIdentity`]. Routes that do not ask for a
/// `BoothIdentity` (lawyer routes) never look at the certificate. The gain is a
/// plain-language HTTP refusal for a booth with a wrong certificate, instead of a
/// TLS alert the kiosk shows as "connection failed".
#[derive(Debug)]
pub struct DeferredClientCertVerifier {
    ca_subjects: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for DeferredClientCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.ca_subjects
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Deferred: auth::booth::BoothVerifier verifies the chain (see the type's doc).
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confer_certs::{issue_server_cert, DevCa, Validity};

    /// A dev CA, and the public listener's config (with its client certificate policy) and
    /// the admin listener's, both with one server certificate from that CA.
    fn listeners() -> (
        DevCa,
        Arc<ServerConfig>,
        ClientCertPolicy,
        Arc<ServerConfig>,
    ) {
        let ca = DevCa::generate("facility CA").unwrap();
        let server = issue_server_cert(&ca, &[], Validity::days_from_now(1)).unwrap();
        let (public, policy) = server_config(
            server.cert_pem.as_bytes(),
            server.key_pem.as_bytes(),
            ca.cert_pem().as_bytes(),
        )
        .unwrap();
        let admin =
            admin_server_config(server.cert_pem.as_bytes(), server.key_pem.as_bytes()).unwrap();
        (ca, public, policy, admin)
    }

    #[test]
    fn shared_listener_offers_h2_and_http1_and_optional_client_auth() {
        let (_ca, config, policy, admin) = listeners();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let hints = policy.booth_verifier().ca_subjects().to_vec();
        assert_eq!(hints.len(), 1);
        let deferred = DeferredClientCertVerifier {
            ca_subjects: hints,
            provider: provider(),
        };
        assert!(deferred.offer_client_auth());
        assert!(!deferred.client_auth_mandatory());
        assert_eq!(
            deferred.root_hint_subjects()[0].as_ref(),
            policy.booth_verifier().ca_subjects()[0].as_ref()
        );
        assert!(!deferred.supported_verify_schemes().is_empty());
        assert_eq!(admin.alpn_protocols, config.alpn_protocols);
    }

    /// What `from` has to send, read and processed by `to`.
    fn pass<A, B>(from: &mut rustls::ConnectionCommon<A>, to: &mut rustls::ConnectionCommon<B>) {
        let mut wire = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut wire).unwrap();
        }
        let mut rd = &wire[..];
        while !rd.is_empty() {
            to.read_tls(&mut rd).unwrap();
            to.process_new_packets().unwrap();
        }
    }

    /// Move TLS records between `client` and `server` until both are done and nothing is
    /// left to send (the server's session tickets follow its handshake).
    fn converse(client: &mut rustls::ClientConnection, server: &mut rustls::ServerConnection) {
        for _ in 0..20 {
            pass(client, server);
            pass(server, client);
            if !client.is_handshaking()
                && !server.is_handshaking()
                && !client.wants_write()
                && !server.wants_write()
            {
                return;
            }
        }
        panic!("the TLS handshake did not finish");
    }

    /// One connection of `client` to `server` (in memory); how it was established.
    fn connect(
        client: &Arc<rustls::ClientConfig>,
        server: &Arc<ServerConfig>,
    ) -> rustls::HandshakeKind {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut c = rustls::ClientConnection::new(client.clone(), name).unwrap();
        let mut s = rustls::ServerConnection::new(server.clone()).unwrap();
        converse(&mut c, &mut s);
        assert_eq!(c.handshake_kind(), s.handshake_kind());
        s.handshake_kind().expect("handshake done")
    }

    #[test]
    fn sessions_resume_by_stateless_ticket_and_only_on_their_own_listener() {
        let (ca, public, _, admin) = listeners();
        // Nothing per client is kept on the server for resumption.
        for config in [&public, &admin] {
            assert!(config.ticketer.enabled());
            assert!(!config.session_storage.can_cache());
        }
        // A client with a session store of its own (a browser profile).
        let new_client = || {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            Arc::new(
                rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        };
        use rustls::HandshakeKind::{Full, Resumed};
        let client = new_client();
        assert_eq!(connect(&client, &public), Full);
        // The ticket the client was given resumes: the server kept no cache entry for it.
        assert_eq!(connect(&client, &public), Resumed);
        // A public listener's ticket does not resume on the admin listener ...
        assert_eq!(connect(&client, &admin), Full);
        // ... and an admin listener's ticket not on the public one.
        let client = new_client();
        assert_eq!(connect(&client, &admin), Full);
        assert_eq!(connect(&client, &admin), Resumed);
        assert_eq!(connect(&client, &public), Full);
    }

    #[test]
    fn unusable_files_are_configuration_errors() {
        let ca = DevCa::generate("facility CA").unwrap();
        let server = issue_server_cert(&ca, &[], Validity::days_from_now(1)).unwrap();
        let ca_pem = ca.cert_pem().as_bytes();
        assert!(matches!(
            server_config(b"", server.key_pem.as_bytes(), ca_pem),
            Err(TlsConfigError::NoCertificate)
        ));
        assert!(matches!(
            server_config(server.cert_pem.as_bytes(), b"", ca_pem),
            Err(TlsConfigError::PrivateKey(_))
        ));
        assert!(matches!(
            server_config(server.cert_pem.as_bytes(), server.key_pem.as_bytes(), b""),
            Err(TlsConfigError::ClientCa(_))
        ));
        // A key that does not match the certificate is refused up front.
        let other = issue_server_cert(&ca, &[], Validity::days_from_now(1)).unwrap();
        assert!(admin_server_config(server.cert_pem.as_bytes(), other.key_pem.as_bytes()).is_err());
    }
}
