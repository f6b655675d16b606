//! A real SMTP server on loopback for the mail tests (mailin-embedded), whose
//! answers a test can change: accept, 451 (try later) or 550 (refused).

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
            Mode::Accept => {
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
        if let Some(c) = self.current.take() {
            self.state.lock().unwrap().received.push(c);
        }
        response::OK
    }
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
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let handler = Recorder { state: state.clone(), current: None };
        let mut server = Server::new(handler);
        server.with_name("smtp.test").with_num_threads(32).with_tcp_listener(listener);
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
