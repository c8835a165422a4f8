//! One HTTP exchange with a registry, authentication included: a request
//! goes out with what worked before (basic credentials, or the
//! repository's bearer token); on 401 the challenge says how to
//! authenticate, and the request is sent once more.

use std::collections::HashMap;

use ureq::Body;
use ureq::http::{Request, Response};
use ureq::tls::TlsConfig;

use crate::OciError;
use crate::auth::{self, Challenge, Credentials};
use crate::error::LOGIN_HINT;

type Reply = Response<Body>;

/// A request to make: what the registry is asked, and what to call it in
/// an error.
pub(crate) struct Call<'a> {
    pub method: &'static str,
    pub url: String,
    pub repository: &'a str,
    /// `pull` or `push`: the token scope's action, and the word in errors.
    pub action: &'static str,
    pub what: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<&'a [u8]>,
}

impl<'a> Call<'a> {
    pub fn new(method: &'static str, url: String, repository: &'a str, action: &'static str) -> Call<'a> {
        Call { method, url, repository, action, what: String::new(), headers: Vec::new(), body: None }
    }

    pub fn what(mut self, what: String) -> Call<'a> {
        self.what = what;
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Call<'a> {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn body(mut self, body: &'a [u8]) -> Call<'a> {
        self.body = Some(body);
        self
    }
}

pub(crate) struct Transport {
    registry: String,
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    /// The registry asked for Basic auth once: send it up front from then on.
    basic: bool,
    /// Bearer tokens by repository.
    tokens: HashMap<String, String>,
    /// Whether plain HTTP was asked for; else credentials never go to a
    /// plain-HTTP token service.
    plain_http: bool,
    requests: u64,
}

impl Transport {
    pub fn new(registry: &str, tls: TlsConfig, credentials: Option<Credentials>, plain_http: bool) -> Transport {
        let agent = ureq::Agent::config_builder()
            // Statuses are answers to interpret (404 = absent), not failures.
            .http_status_as_error(false)
            .user_agent(concat!("galette/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(std::time::Duration::from_secs(30)))
            .timeout_recv_response(Some(std::time::Duration::from_secs(300)))
            .tls_config(tls)
            .build()
            .new_agent();
        Transport {
            registry: registry.to_owned(),
            agent,
            credentials,
            basic: false,
            tokens: HashMap::new(),
            plain_http,
            requests: 0,
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Sends `call`, authenticating if the registry asks. Any status but 401
    /// is returned to the caller to interpret.
    pub fn send(&mut self, call: &Call<'_>) -> Result<Reply, OciError> {
        let first = self.authorization(call.repository);
        let response = self.send_once(call, first.as_deref())?;
        if response.status().as_u16() != 401 {
            return Ok(response);
        }
        let authorization = match header(&response, "www-authenticate").map(|value| auth::parse_challenge(&value)) {
            Some(Challenge::Basic) => {
                let credentials = self.credentials.as_ref().ok_or_else(|| self.unauthorized(call))?;
                self.basic = true;
                credentials.basic_header()
            }
            Some(Challenge::Bearer { realm, service, scope }) => {
                let scope = scope.unwrap_or_else(|| format!("repository:{}:{}", call.repository, scopes(call.action)));
                let token = self.fetch_token(call, &realm, service.as_deref(), &scope)?;
                self.tokens.insert(call.repository.to_owned(), token.clone());
                format!("Bearer {token}")
            }
            Some(Challenge::Other(scheme)) => {
                return Err(OciError::Unauthorized {
                    registry: self.registry.clone(),
                    repository: call.repository.to_owned(),
                    hint: format!(
                        "it asks for `{scheme}` authentication, which Galette does not support (only Basic and Bearer)"
                    ),
                });
            }
            None => return Err(self.unauthorized(call)),
        };
        // What was sent already and refused is not sent again.
        if first.as_deref() == Some(authorization.as_str()) {
            return Err(self.unauthorized(call));
        }
        let response = self.send_once(call, Some(&authorization))?;
        if response.status().as_u16() == 401 {
            return Err(self.unauthorized(call));
        }
        Ok(response)
    }

    /// The error for a status the caller did not expect.
    pub fn status_error(&self, call: &Call<'_>, mut response: Reply) -> OciError {
        let status = response.status().as_u16();
        let body =
            response.body_mut().with_config().limit(64 << 10).lossy_utf8(true).read_to_string().unwrap_or_default();
        let excerpt = excerpt(&body);
        match status {
            401 => self.unauthorized(call),
            403 => OciError::Denied {
                registry: self.registry.clone(),
                repository: call.repository.to_owned(),
                action: call.action.to_owned(),
                detail: excerpt,
            },
            404 => OciError::NotFound { what: call.what.clone() },
            _ => {
                // Go's HTTPS server answering a plain-HTTP request.
                let body_excerpt = if status == 400 && body.contains("HTTP request to an HTTPS server") {
                    format!("{excerpt} (the registry serves HTTPS: do not ask for plain HTTP)")
                } else {
                    excerpt
                };
                OciError::Http { method: call.method.to_owned(), url: call.url.clone(), status, body_excerpt }
            }
        }
    }

    fn authorization(&self, repository: &str) -> Option<String> {
        if let Some(token) = self.tokens.get(repository) {
            return Some(format!("Bearer {token}"));
        }
        match &self.credentials {
            Some(credentials) if self.basic => Some(credentials.basic_header()),
            _ => None,
        }
    }

    fn send_once(&mut self, call: &Call<'_>, authorization: Option<&str>) -> Result<Reply, OciError> {
        let mut request = Request::builder().method(call.method).uri(&call.url);
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        self.run(request, call.body, call.method, &call.url)
    }

    fn run(
        &mut self,
        request: ureq::http::request::Builder,
        body: Option<&[u8]>,
        method: &str,
        url: &str,
    ) -> Result<Reply, OciError> {
        let bad_request = |error: ureq::http::Error| OciError::BadResponse {
            method: method.to_owned(),
            url: url.to_owned(),
            reason: format!("cannot make a request of it: {error}"),
        };
        self.requests += 1;
        let result = match body {
            Some(body) => self.agent.run(request.body(body).map_err(bad_request)?),
            None => self.agent.run(request.body(()).map_err(bad_request)?),
        };
        result.map_err(|error| transport_error(url, error))
    }

    /// Gets a bearer token from the token service the challenge named, with
    /// the credentials if there are any (anonymous tokens serve public
    /// repositories).
    fn fetch_token(
        &mut self,
        call: &Call<'_>,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, OciError> {
        if realm.starts_with("http://") && !self.plain_http && self.credentials.is_some() {
            return Err(OciError::BadResponse {
                method: call.method.to_owned(),
                url: call.url.clone(),
                reason: format!(
                    "registry {} sends clients to the plain-HTTP token service {realm}; Galette does not send \
                     credentials there unless plain HTTP is asked for (--plain-http)",
                    self.registry
                ),
            });
        }
        let mut url = format!("{realm}{}scope={}", if realm.contains('?') { '&' } else { '?' }, percent_encode(scope));
        if let Some(service) = service {
            url.push_str(&format!("&service={}", percent_encode(service)));
        }
        let mut request = Request::builder().method("GET").uri(&url);
        if let Some(credentials) = &self.credentials {
            request = request.header("authorization", credentials.basic_header());
        }
        let mut response = self.run(request, None, "GET", &url)?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => return Err(self.unauthorized(call)),
            status => {
                let body = response.body_mut().read_to_string().unwrap_or_default();
                return Err(OciError::Http { method: "GET".to_owned(), url, status, body_excerpt: excerpt(&body) });
            }
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = response.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
        let token: Option<Token> = serde_json::from_slice(&body).ok();
        token.and_then(|token| token.token.or(token.access_token)).filter(|token| !token.is_empty()).ok_or_else(|| {
            OciError::BadResponse {
                method: "GET".to_owned(),
                url: realm.to_owned(),
                reason: "the token service answered without a `token` or `access_token`".to_owned(),
            }
        })
    }

    fn unauthorized(&self, call: &Call<'_>) -> OciError {
        let hint = match &self.credentials {
            None => format!("no credentials for {}; {LOGIN_HINT}", self.registry),
            Some(credentials) => format!(
                "the credentials of user `{}` from {} were refused; check them, or log in again \
                 (docker login / skopeo login) or pass --user USER:PASSWORD",
                credentials.user, credentials.source
            ),
        };
        OciError::Unauthorized { registry: self.registry.clone(), repository: call.repository.to_owned(), hint }
    }
}

fn scopes(action: &str) -> &'static str {
    if action == "push" { "pull,push" } else { "pull" }
}

/// A failure below HTTP: TLS (named as such, with what to do) or the
/// connection.
fn transport_error(url: &str, error: ureq::Error) -> OciError {
    let host = url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or(url).to_owned();
    let tls = match &error {
        ureq::Error::Rustls(error) => Some(error.clone()),
        ureq::Error::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).cloned(),
        _ => None,
    };
    match tls {
        Some(tls) => {
            let hint = match tls {
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
                ) => {
                    "the certificate is for another host name: use the name (or address) the certificate was issued for"
                }
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                    "if the registry has a certificate from a private CA, pass that CA's certificate with --ca FILE"
                }
                rustls::Error::InvalidMessage(_) => {
                    "the registry may not serve HTTPS; only for a registry that serves plain HTTP, use --plain-http"
                }
                _ => "check that the registry serves HTTPS with a valid certificate (or pass its CA with --ca FILE)",
            };
            OciError::Tls { registry: host, reason: tls.to_string(), hint: hint.to_owned() }
        }
        None => OciError::Connect {
            url: url.to_owned(),
            reason: format!("{error}; check the registry's address and that it is running"),
        },
    }
}

pub(crate) fn header(response: &Reply, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

/// Encodes everything but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The registry's error in a line: `: CODE: message` from the OCI error
/// body, else the start of the body.
fn excerpt(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
        detail: Option<serde_json::Value>,
    }
    let text = match serde_json::from_str::<Errors>(body) {
        Ok(errors) => errors
            .errors
            .iter()
            .map(|entry| {
                let mut line = [entry.code.as_deref(), entry.message.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": ");
                if let Some(detail) = entry.detail.as_ref().filter(|detail| !detail.is_null()) {
                    line.push_str(&format!(" ({detail})"));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => body.trim().to_owned(),
    };
    if text.is_empty() {
        return String::new();
    }
    let mut text: String = text.chars().take(300).collect();
    if text.len() < body.len() && text.chars().count() == 300 {
        text.push('…');
    }
    format!(": {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_read_in_a_line() {
        let body = r#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:00"}]}"#;
        assert_eq!(excerpt(body), r#": MANIFEST_BLOB_UNKNOWN: blob unknown to registry ("sha256:00")"#);
        assert_eq!(excerpt("  "), "");
        assert_eq!(
            excerpt("Client sent an HTTP request to an HTTPS server.\n"),
            ": Client sent an HTTP request to an HTTPS server."
        );
        assert_eq!(percent_encode("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }
}
