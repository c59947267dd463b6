//! One health probe, as Route 53 does it for Cloud Map (spec §5.3): TCP — the connection opens
//! within the timeout; HTTP and HTTPS — and `GET <ResourcePath>` answers with a status from 200 to
//! 399. HTTPS does not verify the certificate (Route 53 does not either). No body is read beyond
//! the status line.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::model::HealthCheckType;

/// Why a probe failed, for the log line of a status change.
pub type Failure = String;

pub async fn probe(
    kind: HealthCheckType,
    address: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(), Failure> {
    match tokio::time::timeout(timeout, run(kind, address, path)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn run(kind: HealthCheckType, address: SocketAddr, path: &str) -> Result<(), Failure> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    match kind {
        HealthCheckType::Tcp => Ok(()),
        HealthCheckType::Http => http_status(stream, address, path).await,
        HealthCheckType::Https => {
            let config = TLS.as_ref().map_err(Clone::clone)?;
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
            let name = ServerName::IpAddress(address.ip().into());
            let tls = connector
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            http_status(tls, address, path).await
        }
    }
}

async fn http_status<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    address: SocketAddr,
    path: &str,
) -> Result<(), Failure> {
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: cloudmap-reference-health-checker\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    stream.flush().await.map_err(|e| format!("send: {e}"))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP response: {:?}", line.trim_end()))?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP status {status}"))
    }
}

/// A TLS client that accepts any certificate: a health check asks "does it answer", not "is it
/// who it says". Built once; if it cannot be built, HTTPS probes fail with the reason.
static TLS: LazyLock<Result<Arc<rustls::ClientConfig>, String>> = LazyLock::new(|| {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAnyCertificate(Arc::clone(&provider)));
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| {
            Arc::new(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth(),
            )
        })
        .map_err(|error| format!("no TLS configuration for HTTPS health checks: {error}"))
});

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
