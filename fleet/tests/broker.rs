//! The fleet's PKI and ACL against a real broker: Debian's mosquitto with
//! mutual TLS, `require_certificate`, `use_identity_as_username`, the ACL
//! from `broker_acl` and the CRL from `FleetCa::revoke`, driven with
//! Debian's `mosquitto_sub` and `mosquitto_pub`.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use galette_fleet::acl::{broker_acl, desired_topic, group_desired_topic, reported_topic};
use galette_fleet::pki::{Enrolled, FleetCa};
use galette_test_servers::{Mosquitto, MosquittoOptions, mosquitto_pub, mosquitto_sub};
use galette_testbed::NetworkNamespace;

/// How long a client waits for a message that must arrive.
const ARRIVES: Duration = Duration::from_secs(10);
/// How long a client waits for a message that must not arrive: the broker
/// delivers retained messages right after the subscription, in
/// milliseconds, so two seconds of silence is an answer.
const NEVER_ARRIVES: Duration = Duration::from_secs(2);

/// A fleet CA with enrolled devices, the admin's identity, a broker
/// certificate and the ACL file, in one temporary directory.
struct Fleet {
    dir: tempfile::TempDir,
    ca: FleetCa,
    admin: Enrolled,
    broker: Enrolled,
    devices: Vec<(String, Enrolled)>,
}

impl Fleet {
    /// `devices`: (id, groups). The broker certificate names `broker_ip`.
    fn new(devices: &[(&str, &[&str])], broker_ip: IpAddr) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = FleetCa::init(&dir.path().join("ca"), "galette fleet").unwrap();
        let admin = ca.admin_identity(&dir.path().join("admin")).unwrap();
        let broker = ca.broker_cert(&[&broker_ip.to_string()], &dir.path().join("broker")).unwrap();
        let devices = devices
            .iter()
            .map(|(id, groups)| {
                let groups: Vec<String> = groups.iter().map(|group| group.to_string()).collect();
                (id.to_string(), ca.enroll(id, &groups, None).unwrap())
            })
            .collect();
        let fleet = Fleet { dir, ca, admin, broker, devices };
        fleet.write_acl();
        fleet
    }

    fn acl_path(&self) -> PathBuf {
        self.dir.path().join("broker/acl")
    }

    fn write_acl(&self) {
        fs::write(self.acl_path(), broker_acl(&self.ca.devices())).unwrap();
    }

    fn start_broker(&self, address: IpAddr, namespace: Option<&str>) -> Mosquitto {
        Mosquitto::start(MosquittoOptions {
            ca_file: self.broker.ca.clone(),
            cert_file: self.broker.cert.clone(),
            key_file: self.broker.key.clone(),
            acl_file: self.acl_path(),
            crl_file: Some(self.ca.crl_path()),
            address,
            namespace: namespace.map(str::to_owned),
        })
    }

    fn device(&self, id: &str) -> &Enrolled {
        &self.devices.iter().find(|(name, _)| name == id).unwrap().1
    }
}

fn identity(enrolled: &Enrolled) -> (&Path, &Path) {
    (&enrolled.cert, &enrolled.key)
}

/// Subscribes as `who` and waits for one message.
fn read_one(broker: &Mosquitto, who: &Enrolled, topic: &str, timeout: Duration) -> Result<Vec<String>, String> {
    mosquitto_sub(broker.address(), None, identity(who), &who.ca, topic, 1, timeout)
}

fn publish(broker: &Mosquitto, who: &Enrolled, topic: &str, message: &str) {
    mosquitto_pub(broker.address(), None, identity(who), &who.ca, topic, message, true)
        .unwrap_or_else(|error| panic!("publishing on {topic}: {error}\n{}", broker.log()));
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn a_device_reads_its_own_and_its_groups_desired_state_and_reports() {
    let fleet = Fleet::new(&[("gw-1", &["lab"])], LOOPBACK);
    let broker = fleet.start_broker(LOOPBACK, None);
    let gw1 = fleet.device("gw-1");
    publish(&broker, &fleet.admin, &desired_topic("gw-1"), r#"{"version":1}"#);
    publish(&broker, &fleet.admin, &group_desired_topic("lab"), r#"{"version":2}"#);

    assert_eq!(read_one(&broker, gw1, &desired_topic("gw-1"), ARRIVES), Ok(vec![r#"{"version":1}"#.to_owned()]));
    assert_eq!(read_one(&broker, gw1, &group_desired_topic("lab"), ARRIVES), Ok(vec![r#"{"version":2}"#.to_owned()]));

    publish(&broker, gw1, &reported_topic("gw-1"), r#"{"device":"gw-1"}"#);
    assert_eq!(
        read_one(&broker, &fleet.admin, &reported_topic("gw-1"), ARRIVES),
        Ok(vec![r#"{"device":"gw-1"}"#.to_owned()]),
        "{}",
        broker.log()
    );
    assert!(
        broker.log().contains("u'gw-1'"),
        "the broker took the certificate's CN as the username:\n{}",
        broker.log()
    );
}

#[test]
fn a_device_cannot_read_or_write_other_devices_topics() {
    let fleet = Fleet::new(&[("gw-1", &["lab"]), ("gw-2", &["edge"])], LOOPBACK);
    let broker = fleet.start_broker(LOOPBACK, None);
    let gw1 = fleet.device("gw-1");
    publish(&broker, &fleet.admin, &desired_topic("gw-2"), "for gw-2");
    publish(&broker, &fleet.admin, &group_desired_topic("edge"), "for edge");

    assert_eq!(read_one(&broker, gw1, &desired_topic("gw-2"), NEVER_ARRIVES), Ok(vec![]), "{}", broker.log());
    assert_eq!(read_one(&broker, gw1, &group_desired_topic("edge"), NEVER_ARRIVES), Ok(vec![]));
    assert_eq!(read_one(&broker, gw1, "galette/#", NEVER_ARRIVES), Ok(vec![]), "a wildcard reveals nothing");
    // mosquitto 2.0.11 grants such a subscription (SUBACK with QoS 1) and
    // logs nothing about it: it withholds each message the ACL does not let
    // the client read, so its log shows no delivery.
    let log = broker.log();
    for topic in [desired_topic("gw-2"), group_desired_topic("edge")] {
        assert!(!log.lines().any(|line| line.contains("Sending PUBLISH to") && line.contains(&topic)), "{log}");
    }

    // Retained, so that a publish the broker let through would still be
    // there for the admin's later subscription: no race with it.
    publish(&broker, gw1, &reported_topic("gw-2"), "forged by gw-1");
    publish(&broker, gw1, &desired_topic("gw-1"), "gw-1 wants this");
    assert_eq!(read_one(&broker, &fleet.admin, &reported_topic("gw-2"), NEVER_ARRIVES), Ok(vec![]));
    assert_eq!(read_one(&broker, &fleet.admin, &desired_topic("gw-1"), NEVER_ARRIVES), Ok(vec![]));
    let log = broker.log();
    assert!(log.contains("Denied PUBLISH from") && log.contains("galette/devices/gw-2/reported"), "{log}");
}

#[test]
fn clients_without_a_fleet_certificate_are_refused_at_the_handshake() {
    let fleet = Fleet::new(&[("gw-1", &[])], LOOPBACK);
    let broker = fleet.start_broker(LOOPBACK, None);
    publish(&broker, &fleet.admin, &desired_topic("gw-1"), "secret");

    // The same device id from another CA.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = FleetCa::init(other_dir.path(), "another fleet").unwrap();
    let impostor = other.enroll("gw-1", &[], None).unwrap();
    let refused = mosquitto_sub(
        broker.address(),
        None,
        identity(&impostor),
        &fleet.broker.ca,
        &desired_topic("gw-1"),
        1,
        ARRIVES,
    );
    assert!(refused.is_err(), "a certificate from another CA: {refused:?}\n{}", broker.log());

    // The broker's own certificate is for servers only.
    let refused =
        mosquitto_sub(broker.address(), None, identity(&fleet.broker), &fleet.broker.ca, "galette/#", 1, ARRIVES);
    assert!(refused.is_err(), "the broker's server certificate as a client: {refused:?}");

    let output = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string(), "-t", &desired_topic("gw-1")])
        .args(["-C", "1", "-W", "5", "--cafile"])
        .arg(&fleet.broker.ca)
        .output()
        .unwrap();
    assert!(!output.status.success() && output.stdout.is_empty(), "no certificate: {output:?}");
    let log = broker.log();
    assert!(log.contains("certificate verify failed"), "mosquitto logs the refused certificates:\n{log}");
    assert!(log.contains("peer did not return a certificate"), "mosquitto logs the missing certificate:\n{log}");
    assert!(!log.contains("Sending PUBLISH to"), "nothing was delivered:\n{log}");
}

#[test]
fn a_revoked_device_is_refused_after_a_reload() {
    let mut fleet = Fleet::new(&[("gw-1", &[]), ("gw-2", &[])], LOOPBACK);
    let broker = fleet.start_broker(LOOPBACK, None);
    publish(&broker, &fleet.admin, &desired_topic("gw-1"), "one");
    publish(&broker, &fleet.admin, &desired_topic("gw-2"), "two");
    assert_eq!(read_one(&broker, fleet.device("gw-1"), &desired_topic("gw-1"), ARRIVES), Ok(vec!["one".to_owned()]));

    fleet.ca.revoke("gw-1").unwrap();
    // The broker read the CRL at start: until it re-reads it, the revoked
    // certificate still gets in.
    assert_eq!(read_one(&broker, fleet.device("gw-1"), &desired_topic("gw-1"), ARRIVES), Ok(vec!["one".to_owned()]));
    // Only the CRL changes: the ACL still names gw-1, so the refusal below is
    // the revocation's doing (galette-ctl rewrites both).
    broker.reload();

    let refused = read_one(&broker, fleet.device("gw-1"), &desired_topic("gw-1"), ARRIVES);
    assert!(refused.is_err(), "a revoked device: {refused:?}\n{}", broker.log());
    // With TLS 1.3 the client sends its certificate after it has finished
    // its side of the handshake, so mosquitto_sub only sees the connection
    // drop; the broker logs OpenSSL's verdict (without saying "revoked").
    let log = broker.log();
    let after_reload = &log[log.rfind("Reloading config").unwrap()..];
    assert!(after_reload.contains("certificate verify failed"), "{log}");
    assert_eq!(read_one(&broker, fleet.device("gw-2"), &desired_topic("gw-2"), ARRIVES), Ok(vec!["two".to_owned()]));
}

#[test]
fn retained_messages_survive_a_broker_restart() {
    let fleet = Fleet::new(&[("gw-1", &[])], LOOPBACK);
    let mut broker = fleet.start_broker(LOOPBACK, None);
    publish(&broker, &fleet.admin, &desired_topic("gw-1"), "kept");
    let port = broker.port();
    broker.stop();
    let down = read_one(&broker, fleet.device("gw-1"), &desired_topic("gw-1"), NEVER_ARRIVES);
    assert!(down.is_err(), "the broker is stopped: {down:?}");
    broker.restart();
    assert_eq!(broker.port(), port);
    assert_eq!(read_one(&broker, fleet.device("gw-1"), &desired_topic("gw-1"), ARRIVES), Ok(vec!["kept".to_owned()]));
}

#[test]
fn a_broker_in_a_network_namespace_serves_clients_there() {
    let address = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
    let name = galette_testbed::unique_namespace_prefix("fleet-broker").unwrap();
    let namespace = NetworkNamespace::create(&name).unwrap();
    for args in [
        vec!["link", "set", "lo", "up"],
        // Both ends inside the namespace: the address needs a link that is
        // up, and this kernel has no dummy driver.
        vec!["link", "add", "fleet0", "type", "veth", "peer", "name", "fleet1"],
        vec!["link", "set", "fleet0", "up"],
        vec!["link", "set", "fleet1", "up"],
        vec!["address", "add", "198.18.0.1/24", "dev", "fleet0"],
    ] {
        let status = Command::new("ip").args(["-n", &name]).args(&args).status().unwrap();
        assert!(status.success(), "ip -n {name} {args:?}");
    }
    let fleet = Fleet::new(&[("gw-1", &["lab"])], address);
    let broker = fleet.start_broker(address, Some(&name));
    assert_eq!(broker.address(), SocketAddr::new(address, broker.port()));
    let admin = &fleet.admin;
    mosquitto_pub(broker.address(), Some(&name), identity(admin), &admin.ca, &group_desired_topic("lab"), "x", true)
        .unwrap_or_else(|error| panic!("{error}\n{}", broker.log()));
    let gw1 = fleet.device("gw-1");
    let received =
        mosquitto_sub(broker.address(), Some(&name), identity(gw1), &gw1.ca, &group_desired_topic("lab"), 1, ARRIVES);
    assert_eq!(received, Ok(vec!["x".to_owned()]), "{}", broker.log());
    // Only the namespace reaches it.
    let outside = mosquitto_sub(broker.address(), None, identity(gw1), &gw1.ca, "galette/#", 1, NEVER_ARRIVES);
    assert!(outside.is_err(), "reached from outside the namespace: {outside:?}");
    drop(broker);
    namespace.delete().unwrap();
}

#[test]
fn a_device_enrolled_while_the_broker_runs_gets_its_topics_after_a_reload() {
    let mut fleet = Fleet::new(&[("gw-1", &[])], LOOPBACK);
    let broker = fleet.start_broker(LOOPBACK, None);
    let gw3 = fleet.ca.enroll("gw-3", &["lab".to_owned()], None).unwrap();
    publish(&broker, &fleet.admin, &group_desired_topic("lab"), "lab state");
    // Its certificate is good, but the broker's ACL does not name it yet.
    assert_eq!(read_one(&broker, &gw3, &group_desired_topic("lab"), NEVER_ARRIVES), Ok(vec![]));
    fleet.write_acl();
    broker.reload();
    assert_eq!(read_one(&broker, &gw3, &group_desired_topic("lab"), ARRIVES), Ok(vec!["lab state".to_owned()]));
}

/// A rustls client configuration for `who` (ring, as in the rest of the
/// workspace): trusts the fleet CA and presents `who`'s certificate.
fn rustls_config(who: &Enrolled) -> rustls::ClientConfig {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&who.ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain: Vec<_> = CertificateDer::pem_file_iter(&who.cert).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(&who.key).unwrap();
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap()
}

/// Connects with rumqttc as `who`, subscribes to `topic`, and returns the
/// first message's payload, or the first connection error.
fn rumqttc_read_one(broker: &Mosquitto, who: &Enrolled, topic: &str) -> Result<String, Box<rumqttc::ConnectionError>> {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
    let mut options = MqttOptions::new("rumqttc-test", broker.address().ip().to_string(), broker.port());
    options
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(std::sync::Arc::new(rustls_config(who)))));
    let (client, mut connection) = Client::new(options, 10);
    client.subscribe(topic, QoS::AtLeastOnce).unwrap();
    loop {
        match connection.recv_timeout(ARRIVES).expect("rumqttc got no event in time") {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                return Ok(String::from_utf8_lossy(&publish.payload).into_owned());
            }
            Ok(_) => {}
            Err(error) => return Err(Box::new(error)),
        }
    }
}

#[test]
fn rumqttc_over_rustls_works_with_fleet_certificates_and_sees_a_revocation() {
    let mut fleet = Fleet::new(&[("gw-1", &["lab"])], LOOPBACK);
    let broker = fleet.start_broker(LOOPBACK, None);
    publish(&broker, &fleet.admin, &desired_topic("gw-1"), "desired");
    let gw1 = fleet.device("gw-1").clone();
    // rustls checks the broker's IP SAN and mosquitto the device's
    // certificate (ECDSA P-256, PKCS#8 key, as rcgen makes them).
    assert_eq!(rumqttc_read_one(&broker, &gw1, &desired_topic("gw-1")).unwrap(), "desired", "{}", broker.log());

    fleet.ca.revoke("gw-1").unwrap();
    broker.reload();
    let error = rumqttc_read_one(&broker, &gw1, &desired_topic("gw-1")).unwrap_err();
    // What an agent sees when its certificate is refused: with TLS 1.3 the
    // broker's verdict comes as an alert after the client's side of the
    // handshake, so it surfaces on the first read of the CONNACK, inside
    // the MQTT state error, as rustls' `AlertReceived(CertificateRevoked)`.
    assert_eq!(tls_alert(&error), Some(rustls::AlertDescription::CertificateRevoked), "{error:?}\n{}", broker.log());

    // The same id from another CA is an unknown CA to the broker.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = FleetCa::init(other_dir.path(), "another fleet").unwrap();
    let mut impostor = other.enroll("gw-2", &[], None).unwrap();
    impostor.ca = gw1.ca.clone();
    let error = rumqttc_read_one(&broker, &impostor, &desired_topic("gw-2")).unwrap_err();
    assert_eq!(tls_alert(&error), Some(rustls::AlertDescription::UnknownCA), "{error:?}");
}

/// The TLS alert the broker sent, if that is what ended the connection.
fn tls_alert(error: &rumqttc::ConnectionError) -> Option<rustls::AlertDescription> {
    use rumqttc::{ConnectionError, StateError};
    let io = match error {
        ConnectionError::Io(io) => io,
        ConnectionError::MqttState(StateError::Io(io)) => io,
        ConnectionError::MqttState(StateError::Deserialization(rumqttc::Error::Io(io))) => io,
        _ => return None,
    };
    match io.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(*alert),
        _ => None,
    }
}

#[test]
fn a_connected_device_loses_its_topics_when_revoked_with_the_acl_rewritten() {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
    let mut fleet = Fleet::new(&[("gw-1", &[])], LOOPBACK);
    let broker = fleet.start_broker(LOOPBACK, None);
    publish(&broker, &fleet.admin, &desired_topic("gw-1"), "v1");
    let gw1 = fleet.device("gw-1").clone();
    let mut options = MqttOptions::new("gw-1", "127.0.0.1", broker.port());
    let tls = TlsConfiguration::Rustls(std::sync::Arc::new(rustls_config(&gw1)));
    options.set_transport(Transport::tls_with_config(tls));
    let (client, mut connection) = Client::new(options, 10);
    client.subscribe(desired_topic("gw-1"), QoS::AtLeastOnce).unwrap();
    let mut next_message = |timeout: Duration| loop {
        match connection.recv_timeout(timeout) {
            Ok(Ok(Event::Incoming(Packet::Publish(publish)))) => {
                break Some(String::from_utf8_lossy(&publish.payload).into_owned());
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => panic!("the open connection failed: {error:?}"),
            Err(_) => break None,
        }
    };
    assert_eq!(next_message(ARRIVES).as_deref(), Some("v1"));

    // A CRL is checked at the handshake only: the open connection survives
    // it. The ACL, re-read on the same SIGHUP, applies to open connections
    // too, so the revoked device stops receiving at once.
    fleet.ca.revoke("gw-1").unwrap();
    fleet.write_acl();
    broker.reload();
    publish(&broker, &fleet.admin, &desired_topic("gw-1"), "v2");
    assert_eq!(next_message(NEVER_ARRIVES), None, "{}", broker.log());
}
