//! TLS to the collector (feature `tls`): the CA certificates a collector's
//! certificate must chain to, read from a PEM file, and the rustls client
//! set-up built on them, with the ring provider whatever else the process
//! links. Without the feature, a CA file cannot be loaded and
//! [`CaCertificates`] has no values, so the exporters' TLS paths compile to
//! nothing.

use std::path::Path;

/// The certificates of a CA file: the only roots a collector's certificate
/// is checked against.
#[cfg(feature = "tls")]
#[derive(Clone)]
pub(crate) struct CaCertificates {
    /// The file as read, for tonic, which parses PEM itself.
    #[cfg(feature = "otlp-grpc")]
    pub(crate) pem: Vec<u8>,
    pub(crate) certs: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// The client set-up trusting them, for the native exporter.
    pub(crate) client_config: std::sync::Arc<rustls::ClientConfig>,
}

/// Without the `tls` feature there are no CA certificates: a CA file is a
/// configuration error.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) enum CaCertificates {}

#[cfg(feature = "tls")]
impl std::fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaCertificates")
            .field("certs", &self.certs.len())
            .finish_non_exhaustive()
    }
}

#[cfg(not(feature = "tls"))]
impl std::fmt::Debug for CaCertificates {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl CaCertificates {
    /// The certificates of the PEM file at `path`; why not, in words.
    #[cfg(feature = "tls")]
    pub(crate) fn load(path: &Path) -> Result<CaCertificates, String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;

        let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA file: {e}"))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not a PEM file of CA certificates: {e}"))?;
        if certs.is_empty() {
            return Err(
                "no certificate in the CA file (expected PEM `BEGIN CERTIFICATE` blocks)"
                    .to_owned(),
            );
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in &certs {
            roots
                .add(cert.clone())
                .map_err(|e| format!("a certificate in the CA file cannot be a root: {e}"))?;
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(CaCertificates {
            #[cfg(feature = "otlp-grpc")]
            pem,
            certs,
            client_config: std::sync::Arc::new(client_config),
        })
    }

    /// Without the `tls` feature: always an error.
    #[cfg(not(feature = "tls"))]
    pub(crate) fn load(path: &Path) -> Result<CaCertificates, String> {
        let _ = path;
        Err("TLS needs dapple's `tls` feature (on by default)".to_owned())
    }
}

/// The host part of a `host:port` address (an IPv6 address without its
/// brackets).
#[cfg(feature = "tls")]
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The name the collector's certificate must carry for `address`: its host,
/// a DNS name or an IP address (checked against the certificate's IP SANs).
#[cfg(feature = "tls")]
pub(crate) fn server_name(
    address: &str,
) -> Result<rustls_pki_types::ServerName<'static>, rustls_pki_types::InvalidDnsNameError> {
    rustls_pki_types::ServerName::try_from(host_of(address).to_owned())
}

/// The TLS failure behind an error, if one is: an untrusted certificate, a
/// wrong name (found through the error's sources and the errors that I/O
/// errors wrap).
#[cfg(all(feature = "tls", feature = "otlp"))]
pub(crate) fn tls_failure<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e rustls::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner),
            None => error.source(),
        };
    }
    None
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_what_comes_before_the_port() {
        assert_eq!(host_of("collector.internal:7701"), "collector.internal");
        assert_eq!(host_of("10.0.0.1:7701"), "10.0.0.1");
        assert_eq!(host_of("[::1]:7701"), "::1");
        assert_eq!(host_of("no-port"), "no-port");
    }

    #[test]
    fn an_ip_address_endpoint_is_checked_as_an_ip_address() {
        use rustls_pki_types::ServerName;
        assert!(matches!(
            server_name("127.0.0.1:7701"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[::1]:7701"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("collector.internal:7701"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(server_name("bad name:7701").is_err());
    }
}
