//! TLS with rustls (TAXII 2.1 §1.6.6, §8.2.2): TLS 1.2 and 1.3, no 0-RTT (rustls accepts no early data
//! unless asked to).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSettings;

pub fn server_config(tls: &TlsSettings) -> Result<ServerConfig, String> {
    let certificates = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("reading the certificate {}: {e}", tls.cert.display()))?;
    if certificates.is_empty() {
        return Err(format!("{} holds no PEM certificate", tls.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| format!("reading the private key {}: {e}", tls.key.display()))?;
    // One provider named here, so that a second one linked in by a dependency cannot make this ambiguous.
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|e| format!("the certificate and key do not make a TLS configuration: {e}"))
}
