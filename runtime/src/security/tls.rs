//! TLS with mutual authentication against the realm CA, on both ends of our own connections:
//! rustls with the ring provider, ALPN `h2`. A server accepts TLS inside the handshake timeout,
//! before HTTP/2; a client checks the server's certificate against the CA and the name
//! [`SERVER_NAME`] that every certificate of the realm carries.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use super::credentials::{hex, Credentials, Denylist};
use super::realm::SERVER_NAME;
use super::roles::{Role, ROLE_URI_PREFIX};
use crate::error::{Error, Result};

/// The first byte of a TLS handshake record: anything else is a plaintext peer.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A process's TLS: what it serves with, what it dials with, and the revoked serials.
pub(crate) struct Tls {
    pub(crate) dir: std::path::PathBuf,
    acceptor: tokio_rustls::TlsAcceptor,
    connector: tokio_rustls::TlsConnector,
    pub(crate) denylist: Denylist,
}

/// Who is at the other end of a TLS connection, from its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerCertificate {
    /// The subject's common name (the name it was issued for).
    pub(crate) name: String,
    /// Hex serial, as the denylist lists it.
    pub(crate) serial: String,
    pub(crate) role: Role,
}

impl PeerCertificate {
    /// Reads name, serial and role; `None` for bytes that are no X.509 certificate.
    pub(crate) fn parse(der: &[u8]) -> Option<PeerCertificate> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
        let name =
            certificate.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).unwrap_or("").to_owned();
        let role = certificate
            .subject_alternative_name()
            .ok()
            .flatten()
            .into_iter()
            .flat_map(|san| san.value.general_names.iter())
            .filter_map(|general| match general {
                x509_parser::extensions::GeneralName::URI(uri) => uri.strip_prefix(ROLE_URI_PREFIX),
                _ => None,
            })
            .filter_map(|role| role.parse::<Role>().ok())
            .max()
            // A certificate that names no role may only look.
            .unwrap_or(Role::Observe);
        Some(PeerCertificate { name, serial: hex(certificate.raw_serial()), role })
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Tls {
    /// Loads the credentials folder `dir` and builds both configurations.
    pub(crate) fn load(dir: &Path) -> Result<Tls> {
        let Credentials { dir, ca, chain, key } = Credentials::load(dir)?;
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::config(format!("HEROS_CREDENTIALS: {} ({what}): {e}", dir.display()))
        };
        let mut roots = RootCertStore::empty();
        for certificate in ca {
            roots.add(certificate).map_err(|e| bad("ca.pem", &e))?;
        }
        let roots = Arc::new(roots);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| bad("ca.pem", &e))?;
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("TLS versions", &e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| bad("cert.pem / key.pem", &e))?;
        server.alpn_protocols = vec![b"h2".to_vec()];
        let mut client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("TLS versions", &e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad("cert.pem / key.pem", &e))?;
        client.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Tls {
            denylist: Denylist::new(&dir),
            dir,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
        })
    }

    /// Accepts one connection: TLS, or a plaintext peer (told apart by its first byte, so that
    /// it can be answered with a clear UNAUTHENTICATED instead of a dropped socket). Errors are
    /// handshakes that failed: another CA's certificate, none at all, garbage.
    pub(crate) async fn accept(&self, stream: TcpStream) -> std::io::Result<Accepted> {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if first[0] != TLS_HANDSHAKE_RECORD {
            return Ok(Accepted::Plaintext(stream));
        }
        let tls = self.acceptor.accept(stream).await?;
        let peer = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|der| PeerCertificate::parse(der))
            .ok_or_else(|| std::io::Error::other("the client's certificate cannot be read"))?;
        Ok(Accepted::Tls(Box::new(tls), peer))
    }

    /// TLS over a fresh connection to `endpoint`, checking the server's certificate against the
    /// realm CA and the denylist.
    pub(crate) async fn connect(
        &self,
        stream: TcpStream,
        endpoint: &str,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = ServerName::try_from(SERVER_NAME).expect("a valid DNS name");
        let tls = self.connector.connect(name, stream).await.map_err(|e| Error::Unauthenticated {
            message: format!(
                "TLS with {endpoint} failed: {e}. Is it a server of this realm (CA {}), and secured at all?",
                self.dir.join(super::credentials::CA_FILE).display()
            ),
        })?;
        let server: Option<CertificateDer<'_>> = tls.get_ref().1.peer_certificates().and_then(|c| c.first().cloned());
        let server = server.as_deref().and_then(PeerCertificate::parse);
        match server {
            Some(server) if self.denylist.revoked(&server.serial) => Err(Error::Unauthenticated {
                message: format!(
                    "{endpoint} presents certificate {} ('{}'), which the denylist revokes",
                    server.serial, server.name
                ),
            }),
            Some(_) => Ok(tls),
            None => Err(Error::Unauthenticated { message: format!("{endpoint} presents no readable certificate") }),
        }
    }
}

/// A connection accepted by a secured server.
pub(crate) enum Accepted {
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>, PeerCertificate),
    Plaintext(TcpStream),
}

/// What the server logs about a refused handshake.
pub(crate) fn describe_refusal(peer: SocketAddr, error: &std::io::Error) -> String {
    format!(
        "refused a TLS connection from {peer}: {error} (a certificate of another realm's CA, or none? \
         this server takes only certificates of its realm CA)"
    )
}
