//! What travels on the fleet's MQTT topics: the desired state an admin
//! publishes for a device or a group, signed by the fleet's key, and the
//! state each device reports. Both are JSON, documented in docs/fleet.md, so
//! other tools can drive or watch a fleet.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use galette_oci::signature::key_id;
use serde::{Deserialize, Serialize};

/// The `format` of a desired state.
pub const DESIRED_FORMAT: &str = "galette-desired-v1";
/// The `format` of a reported state.
pub const REPORTED_FORMAT: &str = "galette-reported-v1";

/// Whom a desired state is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Audience {
    Device(String),
    Group(String),
}

impl Audience {
    /// `device:gw1` or `group:lab`.
    pub fn parse(text: &str) -> Result<Audience, String> {
        match text.split_once(':') {
            Some(("device", id)) => Ok(Audience::Device(id.to_owned())),
            Some(("group", id)) => Ok(Audience::Group(id.to_owned())),
            _ => Err(format!("`{text}` is neither `device:ID` nor `group:NAME`")),
        }
    }
}

impl std::fmt::Display for Audience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Audience::Device(id) => write!(f, "device:{id}"),
            Audience::Group(id) => write!(f, "group:{id}"),
        }
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Audience, D::Error> {
        Audience::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// The bundle a device should run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredBundle {
    /// Where to pull it: `REGISTRY/REPOSITORY@sha256:…` (a digest, so a
    /// moved tag cannot change what the signature vouches for).
    pub reference: String,
    /// The bundle's own digest (of its manifest.json), which the device
    /// checks against what it pulled.
    pub bundle_digest: String,
}

/// What an admin wants a device (or every device of a group) to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    pub format: String,
    /// Grows with every publish (galette-ctl uses the time in
    /// milliseconds): a device never applies a version lower than, or
    /// equal to, the one it runs, so an old message replayed is refused.
    pub version: u64,
    pub audience: Audience,
    pub bundle: Option<DesiredBundle>,
    /// The full contents of chain maps, by name, as `KEY VALUE` lines (what
    /// `galette map load` reads); a device makes each map hold exactly these.
    #[serde(default)]
    pub maps: BTreeMap<String, Vec<String>>,
}

/// A desired state and the fleet key's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDesiredState {
    pub state: DesiredState,
    pub key_id: String,
    /// ed25519 over `galette-desired-v1:` and the compact JSON of `state`,
    /// in base64.
    pub signature: String,
}

/// Why a desired state was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    #[error("the desired state is not valid JSON of format {DESIRED_FORMAT}: {0}")]
    Malformed(String),
    #[error("the desired state is signed by key {signer}, not by the fleet key {trusted}")]
    OtherKey { signer: String, trusted: String },
    #[error("the desired state's signature does not verify with the fleet key {0}: it was changed or forged")]
    BadSignature(String),
    #[error("desired state version {offered} is not newer than version {running}, which this device runs (a replay?)")]
    NotNewer { offered: u64, running: u64 },
    #[error("the desired state is for {for_whom}, not for this device")]
    NotForUs { for_whom: Audience },
}

fn signed_bytes(state: &DesiredState) -> Vec<u8> {
    let mut bytes = format!("{DESIRED_FORMAT}:").into_bytes();
    bytes.extend(serde_json::to_vec(state).expect("a desired state serialises"));
    bytes
}

impl SignedDesiredState {
    pub fn sign(state: DesiredState, key: &SigningKey) -> SignedDesiredState {
        let signature = key.sign(&signed_bytes(&state));
        SignedDesiredState {
            state,
            key_id: key_id(&key.verifying_key()),
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a desired state serialises")
    }

    pub fn from_json(bytes: &[u8]) -> Result<SignedDesiredState, DesiredError> {
        let signed: SignedDesiredState =
            serde_json::from_slice(bytes).map_err(|error| DesiredError::Malformed(error.to_string()))?;
        if signed.state.format != DESIRED_FORMAT {
            return Err(DesiredError::Malformed(format!("format `{}`", signed.state.format)));
        }
        Ok(signed)
    }

    /// Checks that the fleet key `trusted` signed it.
    pub fn verify(&self, trusted: &VerifyingKey) -> Result<&DesiredState, DesiredError> {
        let trusted_id = key_id(trusted);
        if self.key_id != trusted_id {
            return Err(DesiredError::OtherKey { signer: self.key_id.clone(), trusted: trusted_id });
        }
        let bad = || DesiredError::BadSignature(trusted_id.clone());
        let bytes = BASE64.decode(&self.signature).map_err(|_| bad())?;
        let signature = Signature::from_slice(&bytes).map_err(|_| bad())?;
        trusted.verify(&signed_bytes(&self.state), &signature).map_err(|_| bad())?;
        Ok(&self.state)
    }
}

/// What a device runs, in its reported state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    pub chain: String,
    pub bundle_digest: String,
    /// The desired state version it applied.
    pub version: u64,
    pub reference: String,
}

/// What a device says of itself, on `galette/devices/ID/reported`
/// (retained, so the last report outlives the device; whether it is
/// connected is on its presence topic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportedState {
    pub format: String,
    pub device: String,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub kernel: Option<String>,
    #[serde(default)]
    pub agent_version: Option<String>,
    #[serde(default)]
    pub running: Option<Running>,
    /// The last refusal or failure (a bad signature, a replay, a bundle the
    /// kernel verifier rejected...), with the version it concerned.
    #[serde(default)]
    pub last_error: Option<String>,
    /// The chain's counters (`galette stats --json`'s object).
    #[serde(default)]
    pub counters: Option<serde_json::Value>,
    /// Unix seconds of this report.
    #[serde(default)]
    pub at: u64,
}

/// The payloads of the presence topic.
pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn state(version: u64) -> DesiredState {
        DesiredState {
            format: DESIRED_FORMAT.to_owned(),
            version,
            audience: Audience::Group("lab".to_owned()),
            bundle: Some(DesiredBundle {
                reference: "registry.example:5000/fleet/security@sha256:00".to_owned(),
                bundle_digest: "sha256:11".to_owned(),
            }),
            maps: BTreeMap::from([("acl_v4".to_owned(), vec!["198.18.0.0/15 1".to_owned()])]),
        }
    }

    #[test]
    fn a_signed_desired_state_round_trips_and_verifies_with_its_key_only() {
        let fleet = key(1);
        let signed = SignedDesiredState::sign(state(7), &fleet);
        let read = SignedDesiredState::from_json(&signed.to_json()).unwrap();
        assert_eq!(read.verify(&fleet.verifying_key()).unwrap(), &state(7));
        assert!(matches!(read.verify(&key(2).verifying_key()), Err(DesiredError::OtherKey { .. })));
    }

    #[test]
    fn a_changed_desired_state_does_not_verify() {
        let fleet = key(1);
        let mut signed = SignedDesiredState::sign(state(7), &fleet);
        signed.state.maps.clear();
        assert!(matches!(signed.verify(&fleet.verifying_key()), Err(DesiredError::BadSignature(_))));
        let mut newer = SignedDesiredState::sign(state(7), &fleet);
        newer.state.version = 8;
        assert!(matches!(newer.verify(&fleet.verifying_key()), Err(DesiredError::BadSignature(_))));
    }

    #[test]
    fn audiences_read_as_written() {
        for text in ["device:gw-1", "group:lab"] {
            assert_eq!(Audience::parse(text).unwrap().to_string(), text);
        }
        assert!(Audience::parse("lab").is_err());
    }
}
