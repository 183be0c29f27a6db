//! Mutual TLS on a service's gRPC port: the three PEM files a platform team mounts (the
//! service's certificate chain and key, and the CA that issues its callers' certificates), read
//! once at start.
//!
//! With them, a connection is accepted only with a client certificate that CA issued, and the
//! caller of every RPC is who that certificate names (`chain_rpc::Caller::of`), not what a
//! metadata entry claims. Without them the port speaks plaintext and the caller is the
//! `x-chain-actor` entry, for development and for a mesh that terminates TLS in a sidecar.

use std::fmt;
use std::path::{Path, PathBuf};

use tonic::transport::server::ServerTlsConfig;
use tonic::transport::{Certificate, Identity};

use crate::StartError;

/// Where the mutual TLS files are (`TLS_CERT_FILE`, `TLS_KEY_FILE`, `TLS_CLIENT_CA_FILE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The service's certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// The private key of that certificate, PEM.
    pub key: PathBuf,
    /// The CA (PEM, one or more certificates) that issues the callers' certificates.
    pub client_ca: PathBuf,
}

/// The mutual TLS material, loaded.
#[derive(Clone, PartialEq, Eq)]
pub struct MutualTls {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Vec<u8>,
}

impl MutualTls {
    /// The material from PEM text: the service's certificate chain and key, and the callers' CA.
    pub fn from_pem(
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
        client_ca: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            client_ca: client_ca.into(),
        }
    }

    /// Reads `files`; an unreadable file is named in the error.
    pub async fn load(files: &TlsFiles) -> Result<Self, StartError> {
        Ok(Self::from_pem(
            read(&files.cert).await?,
            read(&files.key).await?,
            read(&files.client_ca).await?,
        ))
    }

    /// The server side: this identity, and client certificates required and checked against
    /// the CA.
    pub(crate) fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(Certificate::from_pem(&self.client_ca))
    }
}

/// Never prints the key.
impl fmt::Debug for MutualTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutualTls")
            .field("cert_bytes", &self.cert.len())
            .field("client_ca_bytes", &self.client_ca.len())
            .finish_non_exhaustive()
    }
}

async fn read(path: &Path) -> Result<Vec<u8>, StartError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| StartError::TlsFile {
            path: path.to_owned(),
            source,
        })
}
