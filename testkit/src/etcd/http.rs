//! A blocking HTTP/1.0 client for etcd's `/health` and `/v2/keys` on
//! loopback, plain or TLS with the test client certificate. HTTP/1.0 keeps
//! it small: no keep-alive, no chunked bodies, the server closes after the
//! response. Blocking keeps the etcd harness usable from plain `#[test]`s.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

use crate::{Error, Result};

/// An HTTP response: status code and body.
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) body: String,
}

/// Sends one request to `127.0.0.1:port`.
pub(super) fn request(port: u16, tls: Option<&Arc<rustls::ClientConfig>>, method: &str, path: &str, form: Option<&str>) -> Result<Response> {
    let context = format!("{method} {path} on 127.0.0.1:{port}");
    let fail = |detail: String| Error::Http { context: context.clone(), detail };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| fail(e.to_string()))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).and_then(|()| tcp.set_write_timeout(Some(Duration::from_secs(10)))).map_err(|e| fail(e.to_string()))?;

    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    if let Some(body) = form {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    } else {
        req.push_str("\r\n");
    }

    let raw = match tls {
        None => exchange(tcp, req.as_bytes()),
        Some(config) => {
            let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
            let conn = rustls::ClientConnection::new(Arc::clone(config), name)?;
            exchange(rustls::StreamOwned::new(conn, tcp), req.as_bytes())
        }
    }
    .map_err(|e| fail(e.to_string()))?;

    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| fail(format!("no HTTP header in {} bytes", raw.len())))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| fail(format!("bad status line {head:?}")))?;
    Ok(Response { status, body: body.to_string() })
}

/// Writes the request and reads until the server closes. A TLS peer that
/// closes without `close_notify` reads as `UnexpectedEof`: that is the end.
fn exchange(mut stream: impl Read + Write, request: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !out.is_empty() => Ok(out),
        Err(e) => Err(e),
    }
}

/// Percent-encodes a string for a URL path or a form value: everything but
/// unreserved characters (and `/` when `keep_slash`).
pub(super) fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
