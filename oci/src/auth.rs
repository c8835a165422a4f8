//! Registry credentials and the two ways registries ask for them: a
//! `Basic` challenge (htpasswd, as distribution's own auth does) or a
//! `Bearer` challenge naming a token service (Docker Hub, Harbor, GitLab,
//! the cloud registries).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::OciError;

/// A user and password, and where they came from (for error messages).
#[derive(Clone)]
pub(crate) struct Credentials {
    pub user: String,
    pub password: String,
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    // Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} from {})", self.user, self.source)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.user, self.password)))
    }
}

/// The docker config file to read: the given one, else
/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub(crate) fn docker_config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// The credentials for `registry` in a docker config file: `auths[KEY].auth`
/// (base64 `user:password`) or `username`/`password`, where KEY is the
/// registry or a URL of it (`https://registry/`, `https://registry/v1/`, as
/// older docker versions wrote). A missing file means no credentials; an
/// explicitly given file must exist.
pub(crate) fn from_docker_config(path: &Path, registry: &str, explicit: bool) -> Result<Option<Credentials>, OciError> {
    let bad = |reason: String| OciError::BadCredentials { path: path.to_owned(), reason };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(error) => return Err(bad(error.to_string())),
    };
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        auths: BTreeMap<String, Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        auth: Option<String>,
        username: Option<String>,
        password: Option<String>,
    }
    let config: Config =
        serde_json::from_str(&text).map_err(|error| bad(format!("not a docker config file: {error}")))?;
    let Some((key, entry)) = config.auths.iter().find(|(key, _)| registry_of_key(key) == registry) else {
        return Ok(None);
    };
    let source = format!("{} (auths.\"{key}\")", path.display());
    if let Some(auth) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) {
        let decoded = STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| bad(format!("auths.\"{key}\".auth is not base64 of USER:PASSWORD")))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| bad(format!("auths.\"{key}\".auth is not base64 of USER:PASSWORD")))?;
        return Ok(Some(Credentials { user: user.to_owned(), password: password.to_owned(), source }));
    }
    match (&entry.username, &entry.password) {
        (Some(user), Some(password)) => {
            Ok(Some(Credentials { user: user.clone(), password: password.clone(), source }))
        }
        // An entry without a secret: credentials kept by a credential helper,
        // which this client does not run.
        _ => Ok(None),
    }
}

/// `https://registry.example.com/v1/` → `registry.example.com`.
fn registry_of_key(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
    Other(String),
}

/// Parses `Basic realm="x"` or `Bearer realm="https://auth",service="reg",scope="repository:a:pull,push"`.
pub(crate) fn parse_challenge(header: &str) -> Challenge {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::Other(scheme.to_owned());
    }
    let params = parse_params(params);
    let get =
        |name: &str| params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.clone());
    match get("realm") {
        Some(realm) => Challenge::Bearer { realm, service: get("service"), scope: get("scope") },
        None => Challenge::Other("Bearer without a realm".to_owned()),
    }
}

/// `key="value", key=value` pairs; quoted values may hold commas (scopes
/// such as `pull,push` do).
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if chars.next().is_none() {
            return pairs;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        pairs.push((key.trim().to_owned(), value.trim().to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(parse_challenge(r#"Basic realm="galette-test""#), Challenge::Basic);
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:fleet/chain:pull,push""#
            ),
            Challenge::Bearer {
                realm: "https://auth.example.com/token".to_owned(),
                service: Some("registry.example.com".to_owned()),
                scope: Some("repository:fleet/chain:pull,push".to_owned()),
            }
        );
        assert_eq!(
            parse_challenge("bearer realm=https://auth/token, service=reg"),
            Challenge::Bearer { realm: "https://auth/token".to_owned(), service: Some("reg".to_owned()), scope: None }
        );
        assert_eq!(parse_challenge("Negotiate"), Challenge::Other("Negotiate".to_owned()));
    }

    #[test]
    fn docker_config_credentials_are_found_by_registry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = STANDARD.encode("alice:s3cr:et");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{"https://registry.example.com/v1/": {{"auth": "{auth}"}},
                    "127.0.0.1:5000": {{"username": "bob", "password": "pw"}},
                    "helper.example.com": {{}}}}, "credsStore": "desktop"}}"#
            ),
        )
        .unwrap();
        let alice = from_docker_config(&path, "registry.example.com", true).unwrap().unwrap();
        assert_eq!((alice.user.as_str(), alice.password.as_str()), ("alice", "s3cr:et"));
        let bob = from_docker_config(&path, "127.0.0.1:5000", true).unwrap().unwrap();
        assert_eq!((bob.user.as_str(), bob.password.as_str()), ("bob", "pw"));
        assert!(from_docker_config(&path, "helper.example.com", true).unwrap().is_none());
        assert!(from_docker_config(&path, "other.example.com", true).unwrap().is_none());
        assert!(from_docker_config(&dir.path().join("none.json"), "x.y", false).unwrap().is_none());
        assert!(matches!(
            from_docker_config(&dir.path().join("none.json"), "x.y", true),
            Err(OciError::BadCredentials { .. })
        ));
        std::fs::write(&path, "not json").unwrap();
        let error = from_docker_config(&path, "x.y", false).unwrap_err().to_string();
        assert!(error.contains("not a docker config file"), "{error}");
    }
}
