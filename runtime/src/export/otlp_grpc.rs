//! OTLP/gRPC for the OTLP exporter (feature `otlp-grpc`): a unary call of
//! `opentelemetry.proto.collector.trace.v1.TraceService/Export` over tonic,
//! the request sent as the bytes the OTLP encoder already wrote (a codec
//! that passes bytes through), on a current-thread runtime owned by the
//! reporter thread. `https://` endpoints are TLS (feature `tls`): checked
//! against the CA file when given, else against Mozilla's roots.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::otlp::{Outcome, Transport, rejected_spans};
use super::tls::CaCertificates;

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Requests as encoded bytes, answers as bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// OTLP/gRPC over tonic.
pub(super) struct Grpc {
    endpoint_text: String,
    endpoint: Endpoint,
    runtime: tokio::runtime::Runtime,
    channel: Option<Channel>,
    metadata: MetadataMap,
}

impl Grpc {
    /// A transport to `endpoint` (`http://host:4317`, or `https://` checked
    /// against `ca`, else Mozilla's roots), `headers` sent as metadata
    /// (names that are not valid metadata keys are left out).
    pub(super) fn new(
        endpoint: String,
        headers: &[(String, String)],
        ca: Option<&CaCertificates>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> std::io::Result<Grpc> {
        let invalid =
            |e: tonic::transport::Error| std::io::Error::other(format!("{endpoint:?}: {e}"));
        let parsed = Endpoint::from_shared(endpoint.clone())
            .map_err(invalid)?
            .connect_timeout(connect_timeout)
            .timeout(timeout);
        #[cfg(feature = "tls")]
        let parsed = if parsed.uri().scheme_str() == Some("https") {
            use tonic::transport::{Certificate, ClientTlsConfig};
            let tls = match ca {
                Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem)),
                None => ClientTlsConfig::new().with_webpki_roots(),
            };
            parsed
                .tls_config(tls.timeout(connect_timeout))
                .map_err(invalid)?
        } else {
            parsed
        };
        #[cfg(not(feature = "tls"))]
        if let Some(ca) = ca {
            match *ca {}
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut metadata = MetadataMap::new();
        for (name, value) in headers {
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes());
            if let (Ok(key), Ok(value)) = (key, MetadataValue::try_from(value.as_str())) {
                metadata.insert(key, value);
            }
        }
        Ok(Grpc {
            endpoint_text: endpoint,
            endpoint: parsed,
            runtime,
            channel: None,
            metadata,
        })
    }
}

impl Transport for Grpc {
    fn endpoint(&self) -> &str {
        &self.endpoint_text
    }

    fn send(&mut self, body: &[u8]) -> Outcome {
        let body = Bytes::copy_from_slice(body);
        let (endpoint, metadata) = (&self.endpoint, &self.metadata);
        let channel = &mut self.channel;
        self.runtime.block_on(async move {
            let connected = match channel {
                Some(channel) => channel.clone(),
                None => match endpoint.connect().await {
                    Ok(connected) => channel.insert(connected).clone(),
                    Err(error) => {
                        #[cfg(feature = "tls")]
                        if let Some(tls) = super::tls::tls_failure(&error) {
                            return Outcome::Untrusted(tls.to_string());
                        }
                        let _ = error;
                        return Outcome::Retry(None);
                    }
                },
            };
            let mut client = tonic::client::Grpc::new(connected);
            if client.ready().await.is_err() {
                *channel = None;
                return Outcome::Retry(None);
            }
            let mut request = tonic::Request::new(body);
            *request.metadata_mut() = metadata.clone();
            let path = tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT);
            match client.unary(request, path, Raw).await {
                Ok(answer) => Outcome::Delivered {
                    rejected: rejected_spans(answer.get_ref()),
                },
                // The codes OTLP calls retryable (RESOURCE_EXHAUSTED only
                // with retry information, which is not read here).
                Err(status) => match status.code() {
                    Code::Cancelled
                    | Code::DeadlineExceeded
                    | Code::Aborted
                    | Code::OutOfRange
                    | Code::Unavailable
                    | Code::DataLoss => {
                        if status.code() == Code::Unavailable {
                            *channel = None;
                        }
                        Outcome::Retry(None)
                    }
                    Code::Unauthenticated => Outcome::Refused(format!(
                        "gRPC UNAUTHENTICATED (is the token right?): {}",
                        status.message()
                    )),
                    code => Outcome::Refused(format!("gRPC {code:?}: {}", status.message())),
                },
            }
        })
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;
    use crate::export::tls_testing::Pki;

    #[test]
    fn an_https_endpoint_is_set_up_for_tls_with_the_token_as_metadata() {
        let pki = Pki::new(&["127.0.0.1"]);
        let ca = CaCertificates::load(pki.ca_file().path()).unwrap();
        let headers = [("authorization".to_owned(), "Bearer s3cret-t0ken".to_owned())];
        let timeout = Duration::from_secs(1);
        for ca in [Some(&ca), None] {
            let grpc = Grpc::new(
                "https://127.0.0.1:4317".to_owned(),
                &headers,
                ca,
                timeout,
                timeout,
            )
            .unwrap();
            assert_eq!(
                grpc.metadata.get("authorization").unwrap(),
                "Bearer s3cret-t0ken"
            );
        }
    }
}
