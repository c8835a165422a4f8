//! `--metrics ADDR`: the counters over HTTP in the Prometheus text format,
//! for a scraper. The main loop publishes the text; a thread serves it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::RunError;

/// A running metrics endpoint.
pub struct MetricsServer {
    body: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    address: SocketAddr,
}

impl MetricsServer {
    pub fn start(address: SocketAddr) -> Result<MetricsServer, RunError> {
        let listener = TcpListener::bind(address)
            .map_err(|err| RunError::Metrics(format!("cannot listen on {address}: {err}")))?;
        let address = listener.local_addr().map_err(|err| RunError::Metrics(err.to_string()))?;
        // Non-blocking, so the thread notices `stop` between connections.
        listener.set_nonblocking(true).map_err(|err| RunError::Metrics(err.to_string()))?;
        let body = Arc::new(Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (body, stop) = (Arc::clone(&body), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("galette-metrics".into())
                .spawn(move || serve(&listener, &body, &stop))
                .map_err(|err| RunError::Metrics(err.to_string()))?
        };
        Ok(MetricsServer { body, stop, thread: Some(thread), address })
    }

    /// Where it listens (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Replaces the text served.
    pub fn publish(&self, text: String) {
        *self.body.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = text;
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

fn serve(listener: &TcpListener, body: &Mutex<String>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                // The request itself does not matter: every path serves the
                // metrics. Reading it keeps clients from seeing a reset.
                let _ = stream.read(&mut [0u8; 1024]);
                let text = body.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_what_was_published_over_http() {
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
        server.publish("galette_packets_total 3\n".into());
        let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\ngalette_packets_total 3\n"), "{response}");
    }
}
