//! The fleet commands of `galette-ctl`: the fleet CA and device
//! certificates (with the broker's ACL kept in step), and the desired
//! states the admin publishes over MQTT, read back and watched.
//!
//! The fleet directory (`--fleet-dir`, by default ~/.config/galette) holds
//! `fleet.key`/`fleet.pub` (the signing key), `ca/` (the CA), `admin/` (the
//! admin's broker identity) and `broker.acl` (mosquitto's `acl_file`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use galette_fleet::acl::{
    ADMIN_IDENTITY, TOPIC_ROOT, broker_acl, desired_topic, device_acl_lines, group_desired_topic,
};
use galette_fleet::mqtt::{self, BrokerOptions, MqttEvent};
use galette_fleet::pki::FleetCa;
use galette_fleet::state::{
    Audience, DESIRED_FORMAT, DesiredBundle, DesiredState, OFFLINE, ONLINE, ReportedState, SignedDesiredState,
};
use galette_oci::layout::{ImageIndex, ImageManifest};
use galette_oci::media_types::{DOCKER_MANIFEST_LIST, OCI_INDEX};
use galette_oci::signature::{read_private_key, read_public_key};
use galette_oci::{Reference, RegistryClient};
use rumqttc::{Client, QoS};

use crate::CtlError;

/// Where the fleet's files are.
pub struct FleetDir(pub PathBuf);

impl FleetDir {
    pub fn ca(&self) -> PathBuf {
        self.0.join("ca")
    }
    pub fn admin(&self) -> PathBuf {
        self.0.join("admin")
    }
    pub fn acl(&self) -> PathBuf {
        self.0.join("broker.acl")
    }
    pub fn signing_key(&self) -> PathBuf {
        self.0.join("fleet.key")
    }
    pub fn public_key(&self) -> PathBuf {
        self.0.join("fleet.pub")
    }
}

/// The silence that ends the broker's retained messages, which it sends
/// right after it grants a subscription.
const RETAINED_QUIET: Duration = Duration::from_millis(200);
const BROKER_PATIENCE: Duration = Duration::from_secs(10);

pub fn ca_init(fleet: &FleetDir, name: &str) -> Result<(), CtlError> {
    let mut ca = FleetCa::init(&fleet.ca(), name)?;
    let admin = ca.admin_identity(&fleet.admin())?;
    write_acl(fleet, &ca)?;
    println!("fleet CA `{name}` in {}", fleet.ca().display());
    println!("  CA certificate: {} (the broker's cafile, and every device's --broker-ca)", ca.ca_cert_path().display());
    println!("  admin identity: {} ({ADMIN_IDENTITY}, for galette-ctl)", admin.cert.display());
    println!("  broker ACL:     {} (the broker's acl_file)", fleet.acl().display());
    println!("  CRL:            {} (the broker's crlfile)", ca.crl_path().display());
    Ok(())
}

pub fn broker_cert(fleet: &FleetDir, names: &[String], out: &Path) -> Result<(), CtlError> {
    let mut ca = FleetCa::open(&fleet.ca())?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let issued = ca.broker_cert(&names, out)?;
    println!("broker certificate for {}: {} (key {})", names.join(", "), issued.cert.display(), issued.key.display());
    Ok(())
}

pub fn enroll(fleet: &FleetDir, device: &str, groups: &[String], out: Option<&Path>) -> Result<(), CtlError> {
    let mut ca = FleetCa::open(&fleet.ca())?;
    let enrolled = ca.enroll(device, groups, out)?;
    write_acl(fleet, &ca)?;
    let record = ca.devices().into_iter().find(|record| record.id == device).expect("just enrolled");
    println!("enrolled `{device}`: {} (key {}, mode 0600)", enrolled.cert.display(), enrolled.key.display());
    println!("its broker ACL lines (written to {}; reload the broker to apply):", fleet.acl().display());
    print!("{}", indent(&device_acl_lines(&record)));
    let groups: String = groups.iter().map(|group| format!(" --group {group}")).collect();
    println!("on the device:");
    println!(
        "  galette agent --device {device}{groups} --broker BROKER:8883 --broker-ca ca.crt --cert device.crt --key device.key --trust-key fleet.pub -- --iface IF"
    );
    Ok(())
}

pub fn revoke(fleet: &FleetDir, device: &str) -> Result<(), CtlError> {
    let mut ca = FleetCa::open(&fleet.ca())?;
    ca.revoke(device)?;
    write_acl(fleet, &ca)?;
    println!("revoked `{device}`: {} and {} rewritten", ca.crl_path().display(), fleet.acl().display());
    println!("reload the broker (SIGHUP) so that it refuses the device and drops its topics");
    Ok(())
}

fn write_acl(fleet: &FleetDir, ca: &FleetCa) -> Result<(), CtlError> {
    let path = fleet.acl();
    std::fs::write(&path, broker_acl(&ca.devices())).map_err(|source| CtlError::Write { path, source })
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

/// A client id no other admin connection has: the broker throws out an
/// older connection of the same id.
fn admin_client_id() -> String {
    static CONNECTIONS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let count = CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.subsec_nanos());
    format!("{ADMIN_IDENTITY}-{}-{count}-{nanos}", std::process::id())
}

/// The admin's connection to the broker.
struct AdminConnection {
    client: Client,
    events: Receiver<MqttEvent>,
}

impl AdminConnection {
    fn open(fleet: &FleetDir, broker: &str) -> Result<AdminConnection, CtlError> {
        let (host, port) = broker
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)))
            .ok_or_else(|| CtlError::Usage(format!("--broker {broker}: expected HOST:PORT")))?;
        let admin = fleet.admin();
        let options = BrokerOptions {
            host,
            port,
            ca: fleet.ca().join("ca.crt"),
            cert: admin.join("admin.crt"),
            key: admin.join("admin.key"),
            client_id: admin_client_id(),
            will: None,
        };
        let (sender, events) = mpsc::channel();
        let client = mqtt::connect(&options, sender).map_err(|error| CtlError::Usage(error.to_string()))?;
        let connection = AdminConnection { client, events };
        connection.wait_for(|event| matches!(event, MqttEvent::Connected), "the broker's answer").map_err(|error| {
            let why = match error {
                CtlError::Broker(why) => why,
                other => other.to_string(),
            };
            CtlError::Broker(format!("cannot connect to {broker} as {ADMIN_IDENTITY}: {why}"))
        })?;
        Ok(connection)
    }

    /// Waits for the first event `wanted` accepts, failing on a lost
    /// connection or after [`BROKER_PATIENCE`].
    fn wait_for(&self, wanted: impl Fn(&MqttEvent) -> bool, what: &str) -> Result<(), CtlError> {
        let deadline = Instant::now() + BROKER_PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(MqttEvent::Disconnected(why)) => return Err(CtlError::Broker(why)),
                Ok(event) if wanted(&event) => return Ok(()),
                Ok(_) => {}
                Err(_) => return Err(CtlError::Broker(format!("no {what} within {BROKER_PATIENCE:?}"))),
            }
        }
    }

    /// The retained messages of `filter`, by topic: the broker sends them
    /// right after it grants the subscription, so once granted, the first
    /// quiet [`RETAINED_QUIET`] ends them.
    fn retained(&self, filter: &str) -> Result<BTreeMap<String, Vec<u8>>, CtlError> {
        self.client.subscribe(filter, QoS::AtLeastOnce).map_err(|error| CtlError::Broker(error.to_string()))?;
        self.wait_for(|event| matches!(event, MqttEvent::Subscribed), "grant of the subscription")?;
        let mut messages = BTreeMap::new();
        loop {
            match self.events.recv_timeout(RETAINED_QUIET) {
                Ok(MqttEvent::Message { topic, payload }) => {
                    messages.insert(topic, payload);
                }
                Ok(MqttEvent::Disconnected(why)) => return Err(CtlError::Broker(why)),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return Ok(messages),
            }
        }
    }

    fn publish_retained(&self, topic: &str, payload: Vec<u8>) -> Result<(), CtlError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .map_err(|error| CtlError::Broker(error.to_string()))?;
        self.wait_for(|event| matches!(event, MqttEvent::Published), "acknowledgement of the publish")
    }
}

fn topic_of(audience: &Audience) -> String {
    match audience {
        Audience::Device(id) => desired_topic(id),
        Audience::Group(group) => group_desired_topic(group),
    }
}

/// A version newer than `previous` and than any earlier publish: the time
/// in milliseconds, so no counter needs keeping between admins' runs.
fn next_version(previous: Option<u64>) -> u64 {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64);
    now.max(previous.map_or(0, |version| version + 1))
}

/// The desired state retained for `audience`, checked with the fleet key.
fn current_desired(
    connection: &AdminConnection,
    fleet: &FleetDir,
    audience: &Audience,
) -> Result<Option<DesiredState>, CtlError> {
    let topic = topic_of(audience);
    let retained = connection.retained(&topic)?;
    let Some(payload) = retained.get(&topic) else { return Ok(None) };
    let key = read_public_key(&fleet.public_key())?;
    let signed = SignedDesiredState::from_json(payload).map_err(|error| CtlError::Broker(error.to_string()))?;
    let state =
        signed.verify(&key).map_err(|error| CtlError::Broker(format!("the retained state on {topic}: {error}")))?;
    Ok(Some(state.clone()))
}

/// The bundle `reference` names, by digest: the manifest or index the tag
/// points at now, and the bundle's own digest (its config's).
pub fn resolve_bundle(reference: &Reference, registry: &galette_oci::ClientOptions) -> Result<DesiredBundle, CtlError> {
    let mut client = RegistryClient::new(&reference.registry, registry)?;
    let top = client.pull_manifest(&reference.repository, &reference.reference())?;
    let manifest_bytes = match top.media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let index: ImageIndex =
                serde_json::from_slice(&top.bytes).map_err(|error| CtlError::Bundle(error.to_string()))?;
            let first =
                index.manifests.first().ok_or_else(|| CtlError::Bundle(format!("{reference} is an empty index")))?;
            client.pull_manifest(&reference.repository, &first.digest.to_string())?.bytes
        }
        _ => top.bytes,
    };
    let manifest: ImageManifest =
        serde_json::from_slice(&manifest_bytes).map_err(|error| CtlError::Bundle(error.to_string()))?;
    Ok(DesiredBundle {
        reference: format!("{}/{}@{}", reference.registry, reference.repository, top.digest),
        bundle_digest: manifest.config.digest.to_string(),
    })
}

/// Signs and publishes a new desired state for `audience`: `change` turns
/// the current one (if any) into the new one.
fn publish_change(
    fleet: &FleetDir,
    broker: &str,
    audience: &Audience,
    change: impl FnOnce(Option<DesiredState>) -> Result<DesiredState, CtlError>,
) -> Result<DesiredState, CtlError> {
    let key = read_private_key(&fleet.signing_key())?;
    let connection = AdminConnection::open(fleet, broker)?;
    let current = current_desired(&connection, fleet, audience)?;
    let previous = current.as_ref().map(|state| state.version);
    let mut state = change(current)?;
    state.version = next_version(previous);
    let signed = SignedDesiredState::sign(state.clone(), &key);
    connection.publish_retained(&topic_of(audience), signed.to_json())?;
    let _ = connection.client.disconnect();
    Ok(state)
}

pub fn publish(
    fleet: &FleetDir,
    broker: &str,
    audience: &Audience,
    reference: &Reference,
    registry: &galette_oci::ClientOptions,
) -> Result<(), CtlError> {
    let bundle = resolve_bundle(reference, registry)?;
    let state = publish_change(fleet, broker, audience, |current| {
        Ok(DesiredState {
            format: DESIRED_FORMAT.to_owned(),
            version: 0,
            audience: audience.clone(),
            bundle: Some(bundle.clone()),
            // The maps stay as they were desired.
            maps: current.map(|state| state.maps).unwrap_or_default(),
        })
    })?;
    println!(
        "published version {} for {audience}: {} (bundle {})",
        state.version, bundle.reference, bundle.bundle_digest
    );
    Ok(())
}

pub fn maps_set(fleet: &FleetDir, broker: &str, audience: &Audience, map: &str, file: &Path) -> Result<(), CtlError> {
    let text = std::fs::read_to_string(file).map_err(|source| CtlError::Read { path: file.to_owned(), source })?;
    let lines: Vec<String> = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect();
    let count = lines.len();
    let state = publish_change(fleet, broker, audience, |current| {
        let mut state = current.ok_or_else(|| {
            CtlError::Usage(format!("{audience} has no desired state yet: publish a bundle for it first"))
        })?;
        state.maps.insert(map.to_owned(), lines);
        Ok(state)
    })?;
    println!("published version {} for {audience}: map {map} with {count} entries", state.version);
    Ok(())
}

/// One device as the broker's retained messages show it.
#[derive(Debug, Default, Clone)]
pub struct DeviceView {
    /// Its presence: connected or not (none: never said).
    pub online: Option<bool>,
    /// Its last report.
    pub report: Option<ReportedState>,
}

/// Every device the broker holds retained messages of.
pub fn devices(fleet: &FleetDir, broker: &str) -> Result<BTreeMap<String, DeviceView>, CtlError> {
    let connection = AdminConnection::open(fleet, broker)?;
    let messages = connection.retained(&format!("{TOPIC_ROOT}/devices/+/+"))?;
    let _ = connection.client.disconnect();
    Ok(fleet_view(&messages))
}

fn fleet_view(messages: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, DeviceView> {
    let mut devices: BTreeMap<String, DeviceView> = BTreeMap::new();
    for (topic, payload) in messages {
        let mut parts = topic.split('/');
        let (Some(TOPIC_ROOT), Some("devices"), Some(device), Some(kind), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let view = devices.entry(device.to_owned()).or_default();
        match kind {
            "presence" => view.online = Some(payload == ONLINE.as_bytes()),
            "reported" => view.report = serde_json::from_slice(payload).ok(),
            _ => {}
        }
    }
    devices
}

fn status_line(device: &str, view: &DeviceView) -> String {
    let report = view.report.as_ref();
    let running = report.and_then(|report| report.running.as_ref());
    let online = match view.online {
        Some(true) => ONLINE,
        Some(false) => OFFLINE,
        None => "?",
    };
    let seen = report.map_or("never".to_owned(), |report| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
        format!("{}s ago", now.saturating_sub(report.at))
    });
    format!(
        "{device:<16} {online:<8} {:<14} {:<20} {:<14} {:<10} {}",
        report.and_then(|r| r.platform.clone()).unwrap_or_else(|| "?".into()),
        running.map_or("-".into(), |r| short(&r.bundle_digest)),
        running.map_or("-".into(), |r| r.version.to_string()),
        seen,
        report.and_then(|r| r.last_error.clone()).unwrap_or_else(|| "-".into()),
    )
}

fn short(digest: &str) -> String {
    digest.chars().take("sha256:".len() + 12).collect()
}

const STATUS_HEADER: &str =
    "DEVICE           ONLINE   PLATFORM       RUNNING              VERSION        LAST SEEN  LAST ERROR";

pub fn status(fleet: &FleetDir, broker: &str) -> Result<(), CtlError> {
    let devices = devices(fleet, broker)?;
    println!("{STATUS_HEADER}");
    for (device, view) in &devices {
        println!("{}", status_line(device, view));
    }
    Ok(())
}

/// Prints a line each time a device's presence or report changes, until
/// interrupted.
pub fn watch(fleet: &FleetDir, broker: &str) -> Result<(), CtlError> {
    let connection = AdminConnection::open(fleet, broker)?;
    connection
        .client
        .subscribe(format!("{TOPIC_ROOT}/devices/+/+"), QoS::AtLeastOnce)
        .map_err(|error| CtlError::Broker(error.to_string()))?;
    println!("{STATUS_HEADER}");
    let mut messages = BTreeMap::new();
    loop {
        match connection.events.recv() {
            Ok(MqttEvent::Message { topic, payload }) => {
                let device = topic.split('/').nth(2).unwrap_or_default().to_owned();
                messages.insert(topic, payload);
                if let Some(view) = fleet_view(&messages).get(&device) {
                    println!("{}", status_line(&device, view));
                }
            }
            Ok(MqttEvent::Disconnected(why)) => eprintln!("galette-ctl: lost the broker ({why}); reconnecting"),
            Ok(MqttEvent::Connected) => {
                let _ = connection.client.try_subscribe(format!("{TOPIC_ROOT}/devices/+/+"), QoS::AtLeastOnce);
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
}
