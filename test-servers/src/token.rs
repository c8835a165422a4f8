//! A token service as Docker Hub, Harbor and GitLab run them (the
//! distribution "token" auth): the registry answers 401 with a `Bearer`
//! challenge naming this service; a client gets a JWT here, with basic
//! credentials, and retries with it. The registry trusts the JWT because
//! it is signed by a key whose certificate is in its `rootcertbundle`.
//! Served over HTTPS with the test CA, one connection at a time, which is
//! all a test needs.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{CertificateParams, KeyPair};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::TestCa;

pub(crate) const SERVICE: &str = "galette-test-registry";
pub(crate) const ISSUER: &str = "galette-test-token-issuer";

pub(crate) struct TokenServer {
    pub port: u16,
    /// The certificate of the key that signs tokens: the registry's
    /// `rootcertbundle`.
    pub signing_cert_pem: String,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    credentials: Option<(String, String)>,
}

impl TokenServer {
    pub fn start(ca: &TestCa, credentials: Option<(String, String)>) -> TokenServer {
        let signing_key = KeyPair::generate().expect("generating the token signing key");
        let signing_params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        let signing_cert = signing_params.self_signed(&signing_key).expect("self-signing the token certificate");
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &signing_key.serialize_der(), &rng)
            .expect("rcgen generates P-256 keys");
        let signer = Signer { key, cert_der: signing_cert.der().to_vec(), credentials };

        let (cert_pem, key_pem) = ca.server_cert(&["127.0.0.1", "localhost"]);
        let tls = Arc::new(server_config(&cert_pem, &key_pem));
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the token service");
        let port = listener.local_addr().expect("the token service's address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            let signer = Mutex::new(signer);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        requests.fetch_add(1, Ordering::SeqCst);
                        // A failed exchange (a client that gave up) is that client's problem.
                        let _ = serve(stream, tls.clone(), &signer.lock().expect("one connection at a time"));
                    }
                }
            })
        };
        TokenServer { port, signing_cert_pem: signing_cert.pem(), requests, stop, thread: Some(thread) }
    }

    pub fn realm(&self) -> String {
        format!("https://127.0.0.1:{}/token", self.port)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
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

fn serve(stream: TcpStream, tls: Arc<rustls::ServerConfig>, signer: &Signer) -> std::io::Result<()> {
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
    let target = request_line.split(' ').nth(1).unwrap_or("");
    let (status, body) = answer(target, authorization.as_deref(), signer);
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.conn.send_close_notify();
    stream.flush()
}

fn answer(target: &str, authorization: Option<&str>, signer: &Signer) -> (&'static str, String) {
    if let Some((user, password)) = &signer.credentials {
        let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        if authorization != Some(expected.as_str()) {
            return ("401 Unauthorized", r#"{"details":"wrong or missing credentials"}"#.to_owned());
        }
    }
    let query = target.split_once('?').map_or("", |(_, query)| query);
    let mut access = Vec::new();
    for (name, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
        let value = percent_decode(value);
        if name == "scope" {
            // `repository:NAME:pull,push`; everything asked for is granted.
            let mut parts = value.splitn(3, ':');
            if let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next()) {
                access.push(
                    serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}),
                );
            }
        }
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&signer.cert_der)]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": signer.credentials.as_ref().map_or("", |(user, _)| user.as_str()), "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()), "access": access,
    });
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let rng = ring::rand::SystemRandom::new();
    let signature = signer.key.sign(&rng, signing_input.as_bytes()).expect("signing a token");
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
    ("200 OK", serde_json::json!({"token": token, "expires_in": 300}).to_string())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%' && at + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[at + 1..at + 3]).ok().and_then(|hex| u8::from_str_radix(hex, 16).ok()))
            .flatten();
        match escaped {
            Some(byte) => {
                out.push(byte);
                at += 3;
            }
            None => {
                out.push(if bytes[at] == b'+' { b' ' } else { bytes[at] });
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
