//! A real SMTP server on loopback for the mail tests (mailin-embedded), whose
//! answers a test can change: accept, 451 (try later) or 550 (refused).
//!
//! It also speaks TLS with a certificate made for the test (rcgen): STARTTLS
//! through mailin-embedded itself, and implicit TLS (`smtps://`) through a
//! small tokio-rustls front that decrypts and passes the session on to a
//! plain server, since mailin-embedded offers only STARTTLS.

#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// 451: a transient failure; the client should try again later.
    TryLater,
    /// 550: a permanent refusal.
    Refuse,
    /// Accept, but answer each message's end only after this long: the
    /// message counts as received before the answer goes out, so a client
    /// that dies meanwhile has sent it without knowing.
    Slow(std::time::Duration),
}

/// A message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.data).expect("a parseable message")
    }
}

#[derive(Default)]
struct State {
    mode: Option<Mode>,
    received: Vec<Received>,
}

#[derive(Clone)]
struct Recorder {
    state: Arc<Mutex<State>>,
    current: Option<Received>,
}

impl Handler for Recorder {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        match self.state.lock().unwrap().mode.unwrap_or(Mode::Accept) {
            Mode::Accept | Mode::Slow(_) => {
                self.current = Some(Received { from: from.to_owned(), to: to.to_vec(), data: Vec::new() });
                response::OK
            }
            Mode::TryLater => Response::custom(451, "4.3.0 Mailbox busy, try again later".to_owned()),
            Mode::Refuse => Response::custom(550, "5.1.1 No such mailbox here".to_owned()),
        }
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(c) = &mut self.current {
            c.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mode = {
            let mut state = self.state.lock().unwrap();
            if let Some(c) = self.current.take() {
                state.received.push(c);
            }
            state.mode
        };
        if let Some(Mode::Slow(wait)) = mode {
            std::thread::sleep(wait);
        }
        response::OK
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, with its key, in
/// PEM files that live as long as this value.
pub struct TestCert {
    dir: tempfile::TempDir,
    der: rustls::pki_types::CertificateDer<'static>,
    key: Vec<u8>,
}

impl TestCert {
    pub fn new() -> Self {
        // Each certificate gets its own name, as two unrelated servers' would.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("valid names");
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("MOPS test SMTP server {n}"));
        let key = rcgen::KeyPair::generate().expect("a key pair");
        let cert = params.self_signed(&key).expect("a self-signed certificate");
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        Self { der: cert.der().clone(), key: key.serialize_der(), dir }
    }

    /// The certificate as PEM: what a client that trusts it names in `MOPS_SMTP_CA_FILE`.
    pub fn cert_path(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key_path(&self) -> std::path::PathBuf {
        self.dir.path().join("key.pem")
    }
}

/// mailin-embedded builds its rustls configuration with the process's
/// default crypto provider; the dependency graph enables two, so name one.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A running server. It runs until the test process ends.
#[derive(Clone)]
pub struct SmtpServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl SmtpServer {
    /// Starts a server on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        Self::start_on(listener)
    }

    /// Starts a server on `port` (for "the server comes back").
    pub fn start_at(port: u16) -> Self {
        Self::start_on(TcpListener::bind(("127.0.0.1", port)).expect("the port is free again"))
    }

    fn start_on(listener: TcpListener) -> Self {
        Self::start_with(listener, None)
    }

    /// Starts a server that offers STARTTLS with `cert` (and accepts mail
    /// without it too: the client decides).
    pub fn start_starttls(cert: &TestCert) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        Self::start_with(listener, Some(cert))
    }

    /// Starts a server that speaks TLS from the first byte (`smtps://`)
    /// with `cert`. Call it inside a Tokio runtime: the TLS front runs on it.
    pub fn start_implicit_tls(cert: &TestCert) -> Self {
        let plain = Self::start();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.key.clone()).into();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der.clone()], key)
            .expect("a usable certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).unwrap();
        let front = tokio::net::TcpListener::from_std(listener).expect("a Tokio listener");
        let port = front.local_addr().unwrap().port();
        let backend = plain.port;
        tokio::spawn(async move {
            while let Ok((tcp, _)) = front.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut inner) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
                });
            }
        });
        Self { port, state: plain.state }
    }

    fn start_with(listener: TcpListener, tls: Option<&TestCert>) -> Self {
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let handler = Recorder { state: state.clone(), current: None };
        let mut server = Server::new(handler);
        server.with_name("smtp.test").with_num_threads(32).with_tcp_listener(listener);
        if let Some(cert) = tls {
            install_crypto_provider();
            server
                .with_ssl(mailin_embedded::SslConfig::SelfSigned {
                    cert_path: cert.cert_path().display().to_string(),
                    key_path: cert.key_path().display().to_string(),
                })
                .expect("mailin-embedded takes the certificate");
        }
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { port, state }
    }

    /// A port on which nothing listens (yet).
    pub fn unused_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().unwrap().port()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}
