//! A token service as Docker Hub, Harbor and GitLab run them (the
//! distribution "token" auth): the registry answers 401 with a `Bearer`
//! challenge naming this service; a client gets a JWT here, with basic
//! credentials, and retries with it. The registry trusts the JWT because
//! it is signed by a key whose certificate is in its `rootcertbundle`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{CertificateParams, KeyPair};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::TestCa;
use crate::https::{HttpsServer, Reply};

pub(crate) const SERVICE: &str = "galette-test-registry";
pub(crate) const ISSUER: &str = "galette-test-token-issuer";

pub(crate) struct TokenServer {
    server: HttpsServer,
    /// The certificate of the key that signs tokens: the registry's
    /// `rootcertbundle`.
    pub signing_cert_pem: String,
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
        let server = HttpsServer::start(ca, move |request| {
            let (status, body) = answer(&request.target, request.authorization.as_deref(), &signer);
            Reply::json(status, body)
        });
        TokenServer { server, signing_cert_pem: signing_cert.pem() }
    }

    pub fn realm(&self) -> String {
        format!("{}/token", self.server.url())
    }

    pub fn requests(&self) -> usize {
        self.server.requests()
    }
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
