//! `REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`, parsed with docker's rule
//! for telling a registry from a repository's first component.

use std::fmt;

use crate::{Digest, OciError};

/// A reference to a manifest in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    /// `path/to/repo`, lowercase.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses `REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`. The first
    /// component is a registry only if it contains `.` or `:` or is
    /// `localhost` (docker's rule), and a registry is required: Galette has
    /// no default registry, so `fleet/chain` is refused rather than sent to
    /// Docker Hub by surprise.
    pub fn parse(text: &str) -> Result<Reference, OciError> {
        let invalid = |reason: &str| OciError::InvalidReference { text: text.to_owned(), reason: reason.to_owned() };
        let (name, digest) = match text.rsplit_once('@') {
            Some((name, digest)) => (name, Some(Digest::parse(digest).map_err(|reason| invalid(&reason))?)),
            None => (text, None),
        };
        let (registry, rest) = name.split_once('/').ok_or_else(|| invalid("it names no registry"))?;
        if !is_registry(registry) {
            return Err(invalid(&format!(
                "`{registry}` is not a registry host (a registry has a `.` or a `:PORT`, or is `localhost`)"
            )));
        }
        validate_registry(registry).map_err(|reason| invalid(&reason))?;
        // A tag follows the last `:` after the last `/` (a `:` before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |at| at + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(at) => (&rest[..last_slash + at], Some(&rest[last_slash + at + 1..])),
            None => (rest, None),
        };
        validate_repository(repository).map_err(|reason| invalid(&reason))?;
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|reason| invalid(&reason))?;
        }
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// Whether `text` parses as a reference. A command that takes either a
    /// directory or a reference should prefer an existing path: `bundles.d/x`
    /// is both.
    pub fn looks_like_reference(text: &str) -> bool {
        Reference::parse(text).is_ok()
    }

    /// What goes into `/v2/<repository>/manifests/<reference>`: the digest
    /// if any, else the tag, else `latest`.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_owned(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

pub(crate) fn validate_registry(registry: &str) -> Result<(), String> {
    let (host, port) = match registry.rsplit_once(':') {
        // `[::1]:5000`: the port follows the bracket.
        Some((host, port)) if !host.starts_with('[') || host.ends_with(']') => (host, Some(port)),
        _ => (registry, None),
    };
    let host_ok = !host.is_empty()
        && (host.starts_with('[') && host.ends_with(']')
            || host.split('.').all(|label| {
                !label.is_empty()
                    && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }));
    if !host_ok {
        return Err(format!("`{registry}` is not a valid registry host"));
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("`{port}` in `{registry}` is not a port number"));
    }
    Ok(())
}

/// A repository as the distribution spec allows it: `/`-separated
/// components of lowercase letters and digits joined by `.`, `_`, `__` or
/// dashes. Also used to keep anything that is not a repository out of URLs.
pub(crate) fn validate_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository is empty".to_owned());
    }
    for component in repository.split('/') {
        let bytes = component.as_bytes();
        let edges_ok =
            bytes.first().is_some_and(u8::is_ascii_alphanumeric) && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
        let chars_ok = bytes
            .iter()
            .all(|&byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'_' | b'-'));
        if !edges_ok || !chars_ok || component.contains("..") || component.contains("___") {
            return Err(format!(
                "`{repository}` is not a repository name (lowercase letters and digits, separated by `/`, `.`, `_` or `-`)"
            ));
        }
    }
    if repository.len() > 255 {
        return Err(format!("the repository `{repository}` is longer than 255 characters"));
    }
    Ok(())
}

/// A tag: up to 128 of letters, digits, `_`, `.`, `-`, not starting with
/// `.` or `-`.
pub(crate) fn validate_tag(tag: &str) -> Result<(), String> {
    let bytes = tag.as_bytes();
    let first_ok = bytes.first().is_some_and(|&byte| byte.is_ascii_alphanumeric() || byte == b'_');
    let rest_ok = bytes.iter().all(|&byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'));
    if !first_ok || !rest_ok || bytes.len() > 128 {
        return Err(format!(
            "`{tag}` is not a tag (up to 128 letters, digits, `_`, `.`, `-`, not starting with `.` or `-`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_round_trip() {
        let digest = Digest::of(b"x");
        for text in [
            "registry.example.com/fleet/chain:v1".to_owned(),
            "127.0.0.1:5000/chain".to_owned(),
            "localhost/a/b/c:1.0".to_owned(),
            format!("localhost:5000/chain@{digest}"),
            format!("registry.example.com/chain:v2@{digest}"),
        ] {
            let reference = Reference::parse(&text).unwrap();
            assert_eq!(reference.to_string(), text);
            assert!(Reference::looks_like_reference(&text));
        }
        let reference = Reference::parse("127.0.0.1:5000/fleet/chain:v1").unwrap();
        assert_eq!(reference.registry, "127.0.0.1:5000");
        assert_eq!(reference.repository, "fleet/chain");
        assert_eq!(reference.tag.as_deref(), Some("v1"));
        assert_eq!(reference.reference(), "v1");
        assert_eq!(Reference::parse("localhost:5000/chain").unwrap().reference(), "latest");
        let pinned = Reference::parse(&format!("localhost/chain:v1@{digest}")).unwrap();
        assert_eq!(pinned.reference(), digest.to_string(), "a digest wins over a tag");
    }

    #[test]
    fn bad_references_are_refused_by_reason() {
        for (text, reason) in [
            ("chain", "names no registry"),
            ("fleet/chain:v1", "not a registry host"),
            ("registry.example.com/Fleet", "not a repository name"),
            ("registry.example.com/", "repository is empty"),
            ("registry.example.com/chain:", "not a tag"),
            ("registry.example.com/chain@sha256:00", "not a digest"),
            ("host:port/chain", "not a port number"),
            ("./bundle/x", "not a valid registry host"),
        ] {
            let error = Reference::parse(text).unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
            assert!(error.contains("REGISTRY/REPOSITORY"), "{error}");
            assert!(!Reference::looks_like_reference(text));
        }
    }
}
