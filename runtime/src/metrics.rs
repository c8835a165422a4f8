//! `--metrics ADDR`: the counters over HTTP in the Prometheus text format,
//! for a scraper. A thread serves each request with a body rendered at that
//! moment, so a scrape sees the counters as they are, not as they were at
//! some earlier tick (what an exporter is expected to do).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use galette_bundle::error_chain;

use crate::RunError;

/// A running metrics endpoint.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    address: SocketAddr,
}

impl MetricsServer {
    /// Listens on `address` and answers every request with what `render`
    /// returns then (a failure is a 500 with its reason).
    pub fn start<E, F>(address: SocketAddr, render: F) -> Result<MetricsServer, RunError>
    where
        E: std::error::Error + 'static,
        F: Fn() -> Result<String, E> + Send + 'static,
    {
        let failed = |source| RunError::Metrics { address, source };
        let listener = TcpListener::bind(address).map_err(failed)?;
        let address = listener.local_addr().map_err(failed)?;
        // Non-blocking, so the thread notices `stop` between connections.
        listener.set_nonblocking(true).map_err(failed)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("galette-metrics".into())
                .spawn(move || serve(&listener, &render, &stop))
                .map_err(failed)?
        };
        Ok(MetricsServer { stop, thread: Some(thread), address })
    }

    /// Where it listens (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve<E: std::error::Error>(listener: &TcpListener, render: &dyn Fn() -> Result<String, E>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => answer(stream, render),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn answer<E: std::error::Error>(mut stream: TcpStream, render: &dyn Fn() -> Result<String, E>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    // The request itself does not matter: every path serves the metrics.
    // Reading it keeps clients from seeing a reset.
    let _ = stream.read(&mut [0u8; 1024]);
    let (status, body) = match render() {
        Ok(text) => ("200 OK", text),
        Err(error) => ("500 Internal Server Error", format!("cannot read the counters: {}\n", error_chain(&error))),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn scrape(address: SocketAddr) -> String {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn every_scrape_renders_the_counters_anew() {
        let packets = Arc::new(AtomicU64::new(3));
        let counted = Arc::clone(&packets);
        let render = move || -> Result<String, std::io::Error> {
            Ok(format!("galette_packets_total {}\n", counted.load(Ordering::Relaxed)))
        };
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), render).unwrap();
        let response = scrape(server.address());
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\ngalette_packets_total 3\n"), "{response}");
        packets.store(20, Ordering::Relaxed);
        assert!(scrape(server.address()).ends_with("\r\n\r\ngalette_packets_total 20\n"), "read at scrape time");
    }

    #[test]
    fn a_failed_read_is_a_500_with_its_reason() {
        let render = || -> Result<String, std::io::Error> { Err(std::io::Error::other("the map is gone")) };
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), render).unwrap();
        let response = scrape(server.address());
        assert!(response.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{response}");
        assert!(response.ends_with("cannot read the counters: the map is gone\n"), "{response}");
    }
}
