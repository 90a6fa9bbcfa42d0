//! `groupsync check` tells the ways TLS to an SMTP relay goes wrong apart, against real
//! servers on 127.0.0.1: the sandbox's plain SMTP sink asked for STARTTLS or implicit TLS,
//! and a TLS port whose certificate is untrusted, or trusted but for another name.

use crate::harness::*;
use groupsync_sandbox::SandboxOptions;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The `smtp` line of `groupsync check` with `email.smtp_url` and `email.tls` set, and the
/// whole output; `ca` is the PEM bundle `SSL_CERT_FILE` points at, if any.
async fn smtp_line(
    app: &TestApp,
    url: &str,
    tls: &str,
    ca: Option<&std::path::Path>,
) -> (String, String) {
    let mut cmd = app.command();
    cmd.env("GROUPSYNC_EMAIL__SMTP_URL", url)
        .env("GROUPSYNC_EMAIL__TLS", tls)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .arg("check");
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    let out = output(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL smtp:"))
        .unwrap_or_else(|| panic!("no failed smtp line in:\n{stdout}"))
        .to_owned();
    (line, stdout)
}

/// The whole output with its lines joined, so a hint wrapped over lines reads as one.
fn joined(stdout: &str) -> String {
    stdout.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn starttls_asked_of_a_plain_server_is_told() {
    let app = spawn_app(SandboxOptions::seeded(3, 0, 1)).await;
    let at = app.smtp_addr.to_string();
    let (line, stdout) = smtp_line(&app, &format!("smtp://{at}"), "starttls", None).await;
    assert!(line.contains(&at), "{line}");
    assert!(
        joined(&stdout).contains("does not offer STARTTLS"),
        "{stdout}"
    );
    app.stop().await;
}

#[tokio::test]
async fn implicit_tls_against_a_plain_port_is_told() {
    let app = spawn_app(SandboxOptions::seeded(3, 0, 2)).await;
    let at = app.smtp_addr.to_string();
    let (line, stdout) = smtp_line(&app, &format!("smtps://{at}"), "implicit", None).await;
    assert!(line.contains(&at), "{line}");
    assert!(
        joined(&stdout).contains("answered in plain text"),
        "{stdout}"
    );
    app.stop().await;
}

/// A certificate authority made for the test, and a server certificate it signed for
/// `names`, served with implicit TLS on 127.0.0.1.
struct TlsRelay {
    addr: SocketAddr,
    ca_pem: String,
    task: JoinHandle<()>,
}

impl TlsRelay {
    async fn start(names: &[&str]) -> TlsRelay {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // the client is expected to give up during the handshake
                    if let Ok(mut tls) = acceptor.accept(socket).await {
                        let _ = tls.write_all(b"220 relay.test ESMTP\r\n").await;
                        let mut buf = [0u8; 512];
                        let _ = tls.read(&mut buf).await;
                    }
                });
            }
        });
        TlsRelay {
            addr,
            ca_pem: ca_cert.pem(),
            task,
        }
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_told() {
    let app = spawn_app(SandboxOptions::seeded(3, 0, 3)).await;
    let relay = TlsRelay::start(&["127.0.0.1"]).await;
    let at = relay.addr.to_string();
    let (line, stdout) = smtp_line(&app, &format!("smtps://{at}"), "implicit", None).await;
    assert!(line.contains(&at), "{line}");
    assert!(
        joined(&stdout).contains("the relay's certificate is not trusted"),
        "{stdout}"
    );
    relay.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_trusted_certificate_for_another_name_is_told() {
    let app = spawn_app(SandboxOptions::seeded(3, 0, 4)).await;
    let relay = TlsRelay::start(&["mail.elsewhere.test"]).await;
    let ca = app.dir().join("ca.pem");
    std::fs::write(&ca, &relay.ca_pem).unwrap();
    let at = relay.addr.to_string();
    let (line, stdout) = smtp_line(&app, &format!("smtps://{at}"), "implicit", Some(&ca)).await;
    assert!(line.contains(&at), "{line}");
    assert!(
        joined(&stdout).contains("the relay's certificate is for another name"),
        "{stdout}"
    );
    relay.stop().await;
    app.stop().await;
}
