//! `shoal node --metrics ADDR`: the node's figures over HTTP, for Prometheus to scrape.
//!
//! One endpoint, `GET /metrics`, answered with `shoal_cluster::Metrics::render`'s text and
//! the connection closed. That is all a scraper needs, so the server is this file on
//! tokio's listener rather than an HTTP framework: one request line is read, one
//! response written. A node that is rejoining (between two ids) answers 503.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use parking_lot::Mutex;
use shoal_cluster::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The node's figures, when it is up; the node loop swaps them on every (re)join.
pub(crate) type Source = Arc<Mutex<Option<Metrics>>>;

/// How long one scrape may take to send its request: a client slower than this holds a
/// task, never the node.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes of request head read at most: a scraper's `GET` is a few hundred.
const MAX_REQUEST_BYTES: usize = 8 << 10;

/// Binds `addr`, so that a taken port is an error before the node joins.
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve metrics on {addr}"))
}

/// Answers scrapes on `listener` for as long as the node runs.
pub(crate) async fn serve(listener: TcpListener, source: Source) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "a metrics connection failed");
                continue;
            }
        };
        let source = source.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &source)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, source: &Source) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        if head.len() > MAX_REQUEST_BYTES {
            return respond(&mut stream, "431 Request Header Fields Too Large", "").await;
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split(' ');
    let (status, body) = match (words.next(), words.next()) {
        (Some("GET"), Some("/metrics")) => match source.lock().as_ref().map(Metrics::render) {
            Some(body) => ("200 OK", body),
            None => (
                "503 Service Unavailable",
                "the node is joining\n".to_owned(),
            ),
        },
        (Some("GET"), _) => ("404 Not Found", "only /metrics is served\n".to_owned()),
        _ => ("405 Method Not Allowed", "only GET is served\n".to_owned()),
    };
    respond(&mut stream, status, &body).await
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
