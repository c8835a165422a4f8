//! The fleet's certificate authority: it issues each device's client
//! certificate, the admin's, and the broker's server certificate, and keeps
//! the revocation list the broker checks.
//!
//! A CA directory holds:
//! - `ca.crt` (PEM) and `ca.key` (PEM, mode 0600);
//! - `ca.json`: what the CA has issued (serial numbers, subjects, device
//!   groups) and revoked, so that serials never repeat and a CRL can be
//!   rewritten from it at any time;
//! - `crl.pem`: the revocation list, signed by the CA, for mosquitto's
//!   `crlfile` (written at `init` already, empty, because a broker
//!   configured with a `crlfile` that is missing does not start);
//! - `devices/<id>/{device.crt, device.key, ca.crt}`: what `enroll` wrote,
//!   the files to copy onto the device.
//!
//! The broker takes a client certificate's common name as the MQTT username
//! (`use_identity_as_username`), so the common name *is* the identity the
//! ACL names: a device's id, or [`ADMIN_IDENTITY`].

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

pub use crate::acl::ADMIN_IDENTITY;

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const STATE: &str = "ca.json";
const CRL: &str = "crl.pem";
const DEVICES: &str = "devices";
const STATE_VERSION: u32 = 1;
/// How long the CA certificate is valid; the CRL's `nextUpdate` is the same
/// date, because OpenSSL refuses *every* client once the CRL has expired,
/// and a fleet that revokes nobody for a year must keep working.
const CA_VALIDITY: Duration = Duration::days(20 * 365);
/// How long a device, admin or broker certificate is valid.
const LEAF_VALIDITY: Duration = Duration::days(10 * 365);
/// Certificates and CRLs start this long before "now", so that a device or
/// a broker whose clock is a little behind the admin's accepts them.
const CLOCK_SKEW: Duration = Duration::hours(1);
/// The longest device id or group name: a DNS label's length, which also
/// keeps topic levels and file names short.
const MAX_ID_LEN: usize = 63;

/// What went wrong in the CA, naming the file or the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{dir} already holds a fleet CA ({file} exists); refusing to overwrite it")]
    AlreadyInitialised { dir: PathBuf, file: &'static str },
    #[error("{dir} holds no fleet CA: {file} is missing (create one with `galette-ctl ca init`)")]
    NotInitialised { dir: PathBuf, file: &'static str },
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} is not a fleet CA state file: {source}")]
    State { path: PathBuf, source: serde_json::Error },
    #[error("{path} has state version {found}, this build reads version {STATE_VERSION}")]
    StateVersion { path: PathBuf, found: u32 },
    #[error("{path} is not a usable {what}: {reason}")]
    Unreadable { path: PathBuf, what: &'static str, reason: String },
    #[error("{key} is not the private key of the CA certificate {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName { what: &'static str, value: String, reason: &'static str },
    #[error("device {device} is already enrolled (certificate serial {serial}); revoke it before enrolling it again")]
    AlreadyEnrolled { device: String, serial: u64 },
    #[error("device {device} is not enrolled")]
    UnknownDevice { device: String },
    #[error("device {device} has no certificate in force: it is already revoked")]
    AlreadyRevoked { device: String },
    #[error("a broker certificate needs at least one name (an IP address or a DNS name)")]
    NoBrokerNames,
    #[error("{what}: {source}")]
    Certificate { what: String, source: rcgen::Error },
}

/// A certificate and key written by the CA, with the CA certificate that
/// verifies the peer (the broker, for a client; the clients, for the broker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// A device as the CA knows it: its latest certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: String,
    pub groups: Vec<String>,
    /// The serial number of the device's latest certificate.
    pub serial: u64,
    /// Whether that certificate is revoked (the device is then refused by
    /// the broker and left out of the ACL).
    pub revoked: bool,
}

/// What kind of identity a certificate carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Device,
    Admin,
    Broker,
}

/// One certificate the CA issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Issued {
    serial: u64,
    kind: Kind,
    /// The common name: the device id, `galette-admin`, or the broker's
    /// first name.
    subject: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
    /// Unix seconds.
    issued_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<i64>,
}

/// `ca.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    version: u32,
    name: String,
    /// The CA certificate's `notAfter` (Unix seconds), which is also every
    /// CRL's `nextUpdate`.
    not_after: i64,
    next_serial: u64,
    /// The number of the last CRL written (CRLs must carry increasing numbers).
    crl_number: u64,
    issued: Vec<Issued>,
}

/// The fleet's certificate authority, opened from its directory.
pub struct FleetCa {
    dir: PathBuf,
    state: State,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for FleetCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not derived: the issuer holds the CA's private key.
        f.debug_struct("FleetCa").field("dir", &self.dir).field("name", &self.state.name).finish_non_exhaustive()
    }
}

impl FleetCa {
    /// Creates a CA named `name` in `dir` (created if missing, mode 0700):
    /// a fresh key, a self-signed certificate, an empty state and an empty
    /// CRL. Refuses if `dir` already holds any of the CA's files.
    pub fn init(dir: &Path, name: &str) -> Result<FleetCa, PkiError> {
        if name.trim().is_empty() {
            return Err(PkiError::InvalidName {
                what: "CA name",
                value: name.to_owned(),
                reason: "it must not be empty",
            });
        }
        for file in [CA_CERT, CA_KEY, STATE, CRL] {
            if dir.join(file).exists() {
                return Err(PkiError::AlreadyInitialised { dir: dir.to_owned(), file });
            }
        }
        create_private_dir(dir)?;
        let now = OffsetDateTime::now_utc();
        let not_after = now + CA_VALIDITY;
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.distinguished_name = common_name(name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.serial_number = Some(SerialNumber::from(1u64));
        params.not_before = now - CLOCK_SKEW;
        params.not_after = not_after;
        let key = KeyPair::generate().map_err(|source| certificate_error("generating the CA key", source))?;
        let cert =
            params.self_signed(&key).map_err(|source| certificate_error("self-signing the CA certificate", source))?;
        // The key first: a directory with a certificate but no key would
        // look like a CA that cannot sign.
        write_file(&dir.join(CA_KEY), key.serialize_pem().as_bytes(), true)?;
        write_file(&dir.join(CA_CERT), cert.pem().as_bytes(), false)?;
        let state = State {
            version: STATE_VERSION,
            name: name.to_owned(),
            not_after: not_after.unix_timestamp(),
            next_serial: 2,
            crl_number: 0,
            issued: Vec::new(),
        };
        let mut ca = FleetCa { dir: dir.to_owned(), state, issuer: Issuer::new(params, key) };
        ca.write_crl()?;
        Ok(ca)
    }

    /// Opens the CA in `dir`, checking that its key belongs to its
    /// certificate.
    pub fn open(dir: &Path) -> Result<FleetCa, PkiError> {
        for file in [CA_CERT, CA_KEY, STATE] {
            if !dir.join(file).exists() {
                return Err(PkiError::NotInitialised { dir: dir.to_owned(), file });
            }
        }
        let state_path = dir.join(STATE);
        let state: State = serde_json::from_str(&read_to_string(&state_path)?)
            .map_err(|source| PkiError::State { path: state_path.clone(), source })?;
        if state.version != STATE_VERSION {
            return Err(PkiError::StateVersion { path: state_path, found: state.version });
        }
        let cert_path = dir.join(CA_CERT);
        let key_path = dir.join(CA_KEY);
        let cert_pem = read_to_string(&cert_path)?;
        let key = KeyPair::from_pem(&read_to_string(&key_path)?).map_err(|error| PkiError::Unreadable {
            path: key_path.clone(),
            what: "private key",
            reason: error.to_string(),
        })?;
        let unreadable_cert =
            |reason: String| PkiError::Unreadable { path: cert_path.clone(), what: "CA certificate", reason };
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(|error| unreadable_cert(format!("not PEM: {error}")))?;
        let cert = pem.parse_x509().map_err(|error| unreadable_cert(format!("not an X.509 certificate: {error}")))?;
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(PkiError::KeyMismatch { key: key_path, cert: cert_path });
        }
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|error| unreadable_cert(error.to_string()))?;
        Ok(FleetCa { dir: dir.to_owned(), state, issuer })
    }

    /// The CA certificate (PEM): what the broker and every client trust.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// The revocation list (PEM), for the broker's `crlfile`.
    pub fn crl_path(&self) -> PathBuf {
        self.dir.join(CRL)
    }

    /// The CA's name (its certificate's common name).
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// A client certificate for `device` (common name = the device id,
    /// client-auth EKU) in `out` (default `DIR/devices/<device>`), as
    /// `device.crt`, `device.key` (0600) and `ca.crt`. Refuses an id or a
    /// group that is not `[a-z0-9][a-z0-9-]{0,62}` (both become MQTT topic
    /// levels; the id also becomes a file name), the admin's identity, and a
    /// device that holds a certificate in force.
    pub fn enroll(&mut self, device: &str, groups: &[String], out: Option<&Path>) -> Result<Enrolled, PkiError> {
        validate_device_id(device)?;
        for group in groups {
            validate_group(group)?;
        }
        if let Some(current) = self.latest(device).filter(|issued| issued.revoked_at.is_none()) {
            return Err(PkiError::AlreadyEnrolled { device: device.to_owned(), serial: current.serial });
        }
        let mut groups = groups.to_vec();
        groups.sort();
        groups.dedup();
        let out = out.map_or_else(|| self.dir.join(DEVICES).join(device), Path::to_owned);
        let mut params = CertificateParams::default();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(Kind::Device, device, groups, params, &out, "device")
    }

    /// The admin's client certificate (common name `galette-admin`), for
    /// `galette-ctl`, in `out` as `admin.crt`, `admin.key` and `ca.crt`. Each
    /// call issues a new one; earlier ones stay valid.
    pub fn admin_identity(&mut self, out: &Path) -> Result<Enrolled, PkiError> {
        let mut params = CertificateParams::default();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(Kind::Admin, ADMIN_IDENTITY, Vec::new(), params, out, "admin")
    }

    /// A server certificate for the broker, valid for `names` (IP addresses
    /// such as `198.18.0.1`, or DNS names), in `out` as `broker.crt`,
    /// `broker.key` and `ca.crt`. Its EKU is server-auth only, so it cannot
    /// be used as a client identity.
    pub fn broker_cert(&mut self, names: &[&str], out: &Path) -> Result<Enrolled, PkiError> {
        let first = names.first().ok_or(PkiError::NoBrokerNames)?;
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).map_err(|source| PkiError::Certificate {
            what: format!("broker names {names:?} are not IP addresses or DNS names"),
            source,
        })?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(Kind::Broker, first, Vec::new(), params, out, "broker")
    }

    /// Revokes every certificate in force of `device` and rewrites the CRL.
    /// The broker refuses the device from its next connection on, once it
    /// has re-read the CRL (mosquitto: SIGHUP); a connection already open is
    /// not cut.
    pub fn revoke(&mut self, device: &str) -> Result<(), PkiError> {
        if self.latest(device).is_none() {
            return Err(PkiError::UnknownDevice { device: device.to_owned() });
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut revoked_any = false;
        for issued in &mut self.state.issued {
            if issued.kind == Kind::Device && issued.subject == device && issued.revoked_at.is_none() {
                issued.revoked_at = Some(now);
                revoked_any = true;
            }
        }
        if !revoked_any {
            return Err(PkiError::AlreadyRevoked { device: device.to_owned() });
        }
        // The CRL first: if it cannot be written, the state must not claim a
        // revocation the broker does not know about.
        match self.write_crl() {
            Ok(()) => Ok(()),
            Err(error) => {
                for issued in &mut self.state.issued {
                    if issued.kind == Kind::Device && issued.subject == device && issued.revoked_at == Some(now) {
                        issued.revoked_at = None;
                    }
                }
                Err(error)
            }
        }
    }

    /// Every enrolled device, in order of first enrolment, with its latest
    /// certificate.
    pub fn devices(&self) -> Vec<DeviceRecord> {
        let mut ids: Vec<&str> = Vec::new();
        for issued in self.state.issued.iter().filter(|issued| issued.kind == Kind::Device) {
            if !ids.contains(&issued.subject.as_str()) {
                ids.push(&issued.subject);
            }
        }
        ids.into_iter()
            .filter_map(|id| self.latest(id))
            .map(|issued| DeviceRecord {
                id: issued.subject.clone(),
                groups: issued.groups.clone(),
                serial: issued.serial,
                revoked: issued.revoked_at.is_some(),
            })
            .collect()
    }

    /// The latest certificate issued to `device`.
    fn latest(&self, device: &str) -> Option<&Issued> {
        self.state.issued.iter().rev().find(|issued| issued.kind == Kind::Device && issued.subject == device)
    }

    /// Signs a certificate for `subject`, writes it with a fresh key and the
    /// CA certificate into `out` as `<stem>.crt`, `<stem>.key`, `ca.crt`, and
    /// records it. The state is saved before the files are written, so that a
    /// serial number is never handed out twice even if writing fails.
    fn issue(
        &mut self,
        kind: Kind,
        subject: &str,
        groups: Vec<String>,
        mut params: CertificateParams,
        out: &Path,
        stem: &str,
    ) -> Result<Enrolled, PkiError> {
        let now = OffsetDateTime::now_utc();
        let serial = self.state.next_serial;
        params.distinguished_name = common_name(subject);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.serial_number = Some(SerialNumber::from(serial));
        params.not_before = now - CLOCK_SKEW;
        params.not_after = (now + LEAF_VALIDITY).min(self.ca_not_after());
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()
            .map_err(|source| certificate_error(&format!("generating a key for {subject}"), source))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| certificate_error(&format!("signing the certificate of {subject}"), source))?;
        self.state.next_serial += 1;
        self.state.issued.push(Issued {
            serial,
            kind,
            subject: subject.to_owned(),
            groups,
            issued_at: now.unix_timestamp(),
            revoked_at: None,
        });
        if let Err(error) = self.save_state() {
            self.state.issued.pop();
            self.state.next_serial -= 1;
            return Err(error);
        }
        create_private_dir(out)?;
        let enrolled = Enrolled {
            cert: out.join(format!("{stem}.crt")),
            key: out.join(format!("{stem}.key")),
            ca: out.join(CA_CERT),
        };
        write_file(&enrolled.key, key.serialize_pem().as_bytes(), true)?;
        write_file(&enrolled.cert, cert.pem().as_bytes(), false)?;
        if enrolled.ca != self.ca_cert_path() {
            let ca_pem = read_to_string(&self.ca_cert_path())?;
            write_file(&enrolled.ca, ca_pem.as_bytes(), false)?;
        }
        Ok(enrolled)
    }

    fn ca_not_after(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.state.not_after)
            .unwrap_or_else(|_| OffsetDateTime::now_utc() + LEAF_VALIDITY)
    }

    /// Writes `crl.pem` from the state (with the next CRL number), then
    /// saves the state.
    fn write_crl(&mut self) -> Result<(), PkiError> {
        let now = OffsetDateTime::now_utc();
        let revoked_certs = self
            .state
            .issued
            .iter()
            .filter_map(|issued| {
                let revoked_at = issued.revoked_at?;
                Some(RevokedCertParams {
                    serial_number: SerialNumber::from(issued.serial),
                    revocation_time: OffsetDateTime::from_unix_timestamp(revoked_at).unwrap_or(now),
                    reason_code: Some(RevocationReason::CessationOfOperation),
                    invalidity_date: None,
                })
            })
            .collect();
        let crl_number = self.state.crl_number + 1;
        let this_update = now - CLOCK_SKEW;
        let params = CertificateRevocationListParams {
            this_update,
            next_update: self.ca_not_after().max(now + Duration::days(1)),
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer).map_err(|source| certificate_error("signing the CRL", source))?;
        let pem = crl.pem().map_err(|source| certificate_error("encoding the CRL", source))?;
        write_file(&self.crl_path(), pem.as_bytes(), false)?;
        self.state.crl_number = crl_number;
        self.save_state()
    }

    fn save_state(&self) -> Result<(), PkiError> {
        let path = self.dir.join(STATE);
        let mut json = serde_json::to_string_pretty(&self.state).expect("the CA state serialises");
        json.push('\n');
        write_file(&path, json.as_bytes(), false)
    }
}

/// Checks a device id: `[a-z0-9][a-z0-9-]{0,62}`, and not the admin's
/// identity (the id is the certificate's common name, hence the broker
/// username, so a device named `galette-admin` would get the admin's ACL).
pub fn validate_device_id(id: &str) -> Result<(), PkiError> {
    validate_label("device id", id)?;
    if id == ADMIN_IDENTITY {
        return Err(PkiError::InvalidName {
            what: "device id",
            value: id.to_owned(),
            reason: "it is the admin's identity",
        });
    }
    Ok(())
}

/// Checks a group name: `[a-z0-9][a-z0-9-]{0,62}` (it becomes a topic level).
pub fn validate_group(group: &str) -> Result<(), PkiError> {
    validate_label("group name", group)
}

fn validate_label(what: &'static str, value: &str) -> Result<(), PkiError> {
    let invalid = |reason| Err(PkiError::InvalidName { what, value: value.to_owned(), reason });
    let Some(first) = value.bytes().next() else {
        return invalid("it is empty");
    };
    if value.len() > MAX_ID_LEN {
        return invalid("it is longer than 63 characters");
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return invalid("it must start with a lowercase letter or a digit");
    }
    if !value.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-') {
        // Also keeps out MQTT's `/`, `+`, `#` and the NUL, and `..` in paths.
        return invalid("it may hold only lowercase letters, digits and '-'");
    }
    Ok(())
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn certificate_error(what: &str, source: rcgen::Error) -> PkiError {
    PkiError::Certificate { what: what.to_owned(), source }
}

fn read_to_string(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Read { path: path.to_owned(), source })
}

fn create_private_dir(dir: &Path) -> Result<(), PkiError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PkiError::Write { path: dir.to_owned(), source })
}

/// Writes `path` through a temporary file in the same directory and a
/// rename, so that a reader (the broker re-reading the CRL, a crash halfway)
/// never sees half a file; `private` files are created 0600 from the start.
fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), PkiError> {
    let error = |source| PkiError::Write { path: path.to_owned(), source };
    let file_name = path.file_name().ok_or_else(|| error(io::Error::other("no file name")))?;
    let temporary = path.with_file_name(format!(".{}.tmp", file_name.to_string_lossy()));
    let _ = fs::remove_file(&temporary);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&temporary)
        .map_err(error)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    drop(file);
    if let Err(source) = written.and_then(|()| fs::rename(&temporary, path)) {
        let _ = fs::remove_file(&temporary);
        return Err(error(source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use x509_parser::prelude::*;

    use super::*;

    fn parse_pem(path: &Path) -> Vec<u8> {
        let text = fs::read(path).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(&text).unwrap();
        pem.contents
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn device_ids_are_topic_levels_and_file_names() {
        for good in ["a", "0", "gw-01", "edge-paris-3", &"a".repeat(63)] {
            assert!(validate_device_id(good).is_ok(), "{good} should be valid");
        }
        for bad in ["", "-a", "A", "gw_1", "gw/1", "gw+", "#", "..", "a.b", "gw 1", "é", &"a".repeat(64)] {
            let error = validate_device_id(bad).unwrap_err();
            assert!(matches!(error, PkiError::InvalidName { what: "device id", .. }), "{bad}: {error}");
        }
        assert!(validate_device_id(ADMIN_IDENTITY).unwrap_err().to_string().contains("admin"));
        assert!(validate_group("lab").is_ok());
        assert!(validate_group("lab/#").is_err());
    }

    #[test]
    fn init_enroll_revoke_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let mut ca = FleetCa::init(&ca_dir, "galette fleet").unwrap();
        assert_eq!(mode(&ca_dir.join("ca.key")), 0o600);
        assert!(ca.crl_path().exists(), "an empty CRL exists from the start");
        assert!(matches!(FleetCa::init(&ca_dir, "again"), Err(PkiError::AlreadyInitialised { .. })));

        let enrolled = ca.enroll("gw-1", &["lab".to_owned(), "edge".to_owned()], None).unwrap();
        assert_eq!(enrolled.cert, ca_dir.join("devices/gw-1/device.crt"));
        assert_eq!(mode(&enrolled.key), 0o600);
        assert_eq!(fs::read(&enrolled.ca).unwrap(), fs::read(ca.ca_cert_path()).unwrap());
        let der = parse_pem(&enrolled.cert);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let cn = cert.subject().iter_common_name().next().unwrap().as_str().unwrap();
        assert_eq!(cn, "gw-1");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        let ca_der = parse_pem(&ca.ca_cert_path());
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).expect("signed by the CA");

        assert!(matches!(ca.enroll("gw-1", &[], None), Err(PkiError::AlreadyEnrolled { .. })));
        assert!(matches!(ca.enroll("Bad", &[], None), Err(PkiError::InvalidName { .. })));
        assert!(matches!(ca.enroll("gw-2", &["a/b".to_owned()], None), Err(PkiError::InvalidName { .. })));
        ca.enroll("gw-2", &[], Some(&dir.path().join("out"))).unwrap();
        assert!(dir.path().join("out/device.key").exists());

        ca.revoke("gw-1").unwrap();
        assert!(matches!(ca.revoke("gw-1"), Err(PkiError::AlreadyRevoked { .. })));
        assert!(matches!(ca.revoke("nobody"), Err(PkiError::UnknownDevice { .. })));
        let crl_der = parse_pem(&ca.crl_path());
        let (_, crl) = CertificateRevocationList::from_der(&crl_der).unwrap();
        let revoked: Vec<_> = crl.iter_revoked_certificates().map(|cert| cert.raw_serial().to_vec()).collect();
        assert_eq!(revoked, vec![vec![cert.raw_serial()[0]]]);
        crl.verify_signature(ca_cert.public_key()).expect("the CRL is signed by the CA");

        // Re-enrolling a revoked device issues a new serial.
        let reopened = {
            let mut ca = FleetCa::open(&ca_dir).unwrap();
            ca.enroll("gw-1", &["lab".to_owned()], None).unwrap();
            ca
        };
        let devices = reopened.devices();
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].id, "gw-1");
        assert_eq!(devices[0].groups, vec!["lab".to_owned()]);
        assert!(!devices[0].revoked);
        assert!(devices[0].serial > devices[1].serial);
        assert_eq!(devices[1].id, "gw-2");
    }

    #[test]
    fn open_refuses_a_missing_or_mismatched_ca() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(FleetCa::open(dir.path()), Err(PkiError::NotInitialised { .. })));
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        FleetCa::init(&a, "a").unwrap();
        FleetCa::init(&b, "b").unwrap();
        fs::copy(b.join("ca.key"), a.join("ca.key")).unwrap();
        assert!(matches!(FleetCa::open(&a), Err(PkiError::KeyMismatch { .. })));
        fs::write(b.join("ca.json"), "{").unwrap();
        assert!(matches!(FleetCa::open(&b), Err(PkiError::State { .. })));
    }

    #[test]
    fn broker_certificates_name_ips_and_dns_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = FleetCa::init(&dir.path().join("ca"), "galette fleet").unwrap();
        let out = dir.path().join("broker");
        let enrolled = ca.broker_cert(&["198.18.0.1", "broker.example"], &out).unwrap();
        let der = parse_pem(&enrolled.cert);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let names = cert.subject_alternative_name().unwrap().unwrap().value.general_names.clone();
        assert!(names.contains(&GeneralName::IPAddress(&[198, 18, 0, 1])));
        assert!(names.contains(&GeneralName::DNSName("broker.example")));
        assert!(matches!(ca.broker_cert(&[], &out), Err(PkiError::NoBrokerNames)));
        let admin = ca.admin_identity(&dir.path().join("admin")).unwrap();
        assert_eq!(mode(&admin.key), 0o600);
        assert!(ca.devices().is_empty(), "the admin and the broker are not devices");
    }
}
