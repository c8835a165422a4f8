use std::fmt;

use sha2::{Digest as _, Sha256};

/// A content digest as OCI writes it, `sha256:` and 64 lowercase hex digits:
/// the address of a blob or manifest in a registry and in the cache. Only
/// SHA-256, which every registry supports and the bundle format uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_sha256_hex(&galette_bundle::sha256_hex(bytes)).expect("sha256_hex gives 64 hex digits")
    }

    /// Parses `sha256:<64 hex>`.
    pub fn parse(text: &str) -> Result<Digest, String> {
        let hex = text.strip_prefix("sha256:").ok_or_else(|| {
            format!("`{text}` is not a digest (`sha256:` and 64 hex digits; only SHA-256 is supported)")
        })?;
        Digest::from_sha256_hex(hex).ok_or_else(|| format!("`{text}` is not a digest (`sha256:` and 64 hex digits)"))
    }

    /// A digest from the bare hex of a SHA-256 (as the bundle manifest lists
    /// artifacts).
    pub fn from_sha256_hex(hex: &str) -> Option<Digest> {
        let valid = hex.len() == 64 && hex.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| Digest { hex: hex.to_owned() })
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Whether `bytes` have this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        *self == Digest::of(bytes)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Computes a digest over data that arrives in pieces (a blob streamed from
/// a registry).
#[derive(Default)]
pub struct DigestWriter {
    hasher: Sha256,
}

impl DigestWriter {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    pub fn finish(self) -> Digest {
        let hex: String = self.hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
        Digest { hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_print_and_match() {
        let digest = Digest::of(b"galette");
        assert_eq!(Digest::parse(&digest.to_string()), Ok(digest.clone()));
        assert!(digest.matches(b"galette"));
        assert!(!digest.matches(b"galettes"));
        let mut writer = DigestWriter::default();
        writer.update(b"gal");
        writer.update(b"ette");
        assert_eq!(writer.finish(), digest);
        assert!(Digest::parse("sha512:00").is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err(), "uppercase is not canonical");
    }
}
