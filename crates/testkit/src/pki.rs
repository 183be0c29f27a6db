//! A throwaway PKI for tests of mutual TLS: a CA of its own, a server certificate for
//! `localhost` and 127.0.0.1, and client certificates naming their caller by SPIFFE ID, as PEM
//! text, as files for a service's `TLS_*` variables, and as a tonic client configuration.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use tempfile::TempDir;
use tonic::transport::{
    Certificate as TlsCertificate, Channel, ClientTlsConfig, Endpoint, Identity,
};

/// The host name the server certificate is issued for, which clients must dial.
pub const SERVER_NAME: &str = "localhost";

/// A certificate and its private key, PEM (and the certificate as DER).
#[derive(Clone, Debug)]
pub struct IssuedPem {
    /// The certificate.
    pub cert: String,
    /// The certificate, DER, as a server sees it after the handshake.
    pub der: Vec<u8>,
    /// Its private key.
    pub key: String,
}

/// A CA that lives as long as the test, and the files it wrote.
pub struct TestPki {
    ca: Certificate,
    ca_key: KeyPair,
    dir: TempDir,
}

impl TestPki {
    /// A new CA.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "customer-chain test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca = params.self_signed(&ca_key).expect("a CA certificate");
        Self {
            ca,
            ca_key,
            dir: tempfile::tempdir().expect("a directory for the TLS files"),
        }
    }

    /// The CA's certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server certificate for [`SERVER_NAME`] and 127.0.0.1.
    pub fn server(&self) -> IssuedPem {
        let mut params = CertificateParams::new(vec![SERVER_NAME.to_owned()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate naming `spiffe_id` (its URI subject alternative name), e.g.
    /// `spiffe://chain.test/service/tickets-svc`.
    pub fn client(&self, spiffe_id: &str) -> IssuedPem {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .subject_alt_names
            .push(SanType::URI(spiffe_id.try_into().expect("an ASCII URI")));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    /// A server certificate, its key and this CA written to files, as the `TLS_CERT_FILE`,
    /// `TLS_KEY_FILE` and `TLS_CLIENT_CA_FILE` settings of a service.
    pub fn server_settings(&self) -> Vec<(&'static str, String)> {
        let server = self.server();
        vec![
            ("TLS_CERT_FILE", self.write("server.pem", &server.cert)),
            ("TLS_KEY_FILE", self.write("server.key", &server.key)),
            ("TLS_CLIENT_CA_FILE", self.write("ca.pem", &self.ca_pem())),
        ]
    }

    /// A client configuration trusting this CA and presenting `identity` (none: no client
    /// certificate).
    pub fn client_tls(&self, identity: Option<&IssuedPem>) -> ClientTlsConfig {
        let config = ClientTlsConfig::new()
            .ca_certificate(TlsCertificate::from_pem(self.ca_pem()))
            .domain_name(SERVER_NAME);
        match identity {
            Some(issued) => config.identity(Identity::from_pem(&issued.cert, &issued.key)),
            None => config,
        }
    }

    fn issue(&self, params: CertificateParams) -> IssuedPem {
        let key = KeyPair::generate().expect("a key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("a certificate");
        IssuedPem {
            cert: cert.pem(),
            der: cert.der().to_vec(),
            key: key.serialize_pem(),
        }
    }

    /// Writes `pem` to the file `name` in this PKI's temporary directory; returns its path.
    pub fn write(&self, name: &str, pem: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, pem).expect("write a TLS file");
        path_text(&path)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

/// A channel to `addr` over TLS with `tls`; the error when the server refuses it.
pub async fn tls_channel(
    addr: SocketAddr,
    tls: ClientTlsConfig,
) -> Result<Channel, tonic::transport::Error> {
    // The address as it is; the certificate is checked against the configuration's domain name.
    Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect()
        .await
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temporary path").to_owned()
}
