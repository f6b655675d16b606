//! A bare HTTP/1.1 client for the tests that talk to a running server:
//! one request per connection, the whole response read back.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status, headers (names lower-cased, in order, repeated ones
/// kept) and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Where a redirect points; panics on anything but a 303.
    pub fn see_other(&self) -> &str {
        assert_eq!(self.status, 303, "a redirect: {self:?}");
        self.header("location").expect("a Location")
    }

    /// The whole `Set-Cookie` line for the cookie `name`, if one is set.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// `mops_session=…`, ready for a `Cookie` header.
    pub fn session(&self) -> String {
        let line = self.set_cookie("mops_session").unwrap_or_else(|| panic!("a session cookie: {self:?}"));
        line.split(';').next().unwrap().trim().to_owned()
    }

    /// The value of the first form field named `name` on the page.
    pub fn field(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let start =
            self.body.find(&needle).unwrap_or_else(|| panic!("a field {name:?} on {}", self.body)) + needle.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A body sent with `Transfer-Encoding: chunked`, put together.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = find(body, b"\r\n").expect("a chunk size");
        let size = std::str::from_utf8(&body[..end]).unwrap().split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size, 16).expect("a hexadecimal chunk size");
        body = &body[end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// Sends one HTTP/1.1 request (a POST body as a form) and reads the whole
/// response.
pub async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    if method == "POST" {
        let form = [headers, &[("Content-Type", "application/x-www-form-urlencoded")]].concat();
        send(addr, method, path, &form, Some(body)).await
    } else {
        send(addr, method, path, headers, Some(body).filter(|b| !b.is_empty())).await
    }
}

/// Sends one HTTP/1.1 request as given (`body`, if any, with its length)
/// and reads the whole response.
pub async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("the server answers");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head.push_str(body.unwrap_or_default());
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("an answer in time")
        .unwrap();
    let split = find(&response, b"\r\n\r\n").expect("a head and a body");
    let head = std::str::from_utf8(&response[..split]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let raw = &response[split + 4..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(raw) } else { raw.to_vec() };
    Reply { status, headers, body: String::from_utf8(body).expect("UTF-8") }
}
