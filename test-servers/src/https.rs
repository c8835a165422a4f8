//! A minimal HTTPS server for the registry's companions in tests (its
//! token service, the object store its blob redirects point at): one
//! connection at a time on 127.0.0.1, a certificate from the test CA, and
//! a handler per request. Not a general server: just enough HTTP/1.1.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use crate::TestCa;

pub(crate) struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub authorization: Option<String>,
}

pub(crate) struct Reply {
    pub status: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: &'static str, body: String) -> Reply {
        Reply { status, headers: vec![("content-type", "application/json".to_owned())], body: body.into_bytes() }
    }
}

pub(crate) struct HttpsServer {
    pub port: u16,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpsServer {
    pub fn start(ca: &TestCa, handler: impl Fn(&Request) -> Reply + Send + 'static) -> HttpsServer {
        let (cert_pem, key_pem) = ca.server_cert(&["127.0.0.1", "localhost"]);
        let tls = Arc::new(server_config(&cert_pem, &key_pem));
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a test HTTPS server");
        let port = listener.local_addr().expect("the test server's address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        requests.fetch_add(1, Ordering::SeqCst);
                        // A failed exchange (a client that gave up) is that client's problem.
                        let _ = serve(stream, tls.clone(), &handler);
                    }
                }
            })
        };
        HttpsServer { port, requests, stop, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn server_config(cert_pem: &str, key_pem: &str) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("the server certificate is PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("the server key is PEM");
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("a valid server certificate and key")
}

fn serve(
    stream: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    handler: &dyn Fn(&Request) -> Reply,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let connection = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(connection, stream);
    let mut reader = BufReader::new(&mut stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let mut parts = request_line.split(' ');
    let request = Request {
        method: parts.next().unwrap_or("").to_owned(),
        target: parts.next().unwrap_or("").to_owned(),
        authorization,
    };
    let reply = handler(&request);
    let mut head =
        format!("HTTP/1.1 {}\r\ncontent-length: {}\r\nconnection: close\r\n", reply.status, reply.body.len());
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        stream.write_all(&reply.body)?;
    }
    stream.conn.send_close_notify();
    stream.flush()
}
