//! An MQTT connection to the fleet's broker: out over TLS with a client
//! certificate (so nothing listens on a device), with a last will,
//! reconnecting with backoff. Events arrive on a channel, so the caller's
//! loop owns all its state. The agent and `galette-ctl` both use it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use rumqttc::{Client, Connection, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What the connection tells its user.
#[derive(Debug)]
pub enum MqttEvent {
    /// Connected (again): time to subscribe and report.
    Connected,
    /// Lost or refused, and why; the connection retries by itself.
    Disconnected(String),
    Message {
        topic: String,
        payload: Vec<u8>,
    },
    /// The broker has a message this client published (QoS 1's PUBACK).
    Published,
    /// The broker granted a subscription.
    Subscribed,
}

/// Where the broker is and who the device is.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    pub host: String,
    pub port: u16,
    /// The fleet CA, which signed the broker's certificate and the device's.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The MQTT client id (the device id).
    pub client_id: String,
    /// Published by the broker, retained, when the client vanishes.
    pub will: Option<(String, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum MqttSetupError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} holds no {what} in PEM", path.display())]
    NoPem { path: PathBuf, what: &'static str },
    #[error("the certificate and key do not make a TLS client identity: {0}")]
    Identity(String),
}

/// The largest message either side accepts: 1 MiB, well within what
/// brokers allow (mosquitto's default is 256 MiB; cloud IoT hubs allow
/// 128 KiB to a few MiB, so very large maps there need splitting).
pub const MAX_MESSAGE: usize = 1 << 20;

/// The first and the longest wait between two connection attempts.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(30);

/// Connects in the background; returns the client to subscribe and publish
/// with. Events go to `events` until the agent drops the receiver.
pub fn connect(options: &BrokerOptions, events: Sender<MqttEvent>) -> Result<Client, MqttSetupError> {
    let mut mqtt = MqttOptions::new(&options.client_id, &options.host, options.port);
    mqtt.set_keep_alive(Duration::from_secs(10));
    mqtt.set_clean_session(true);
    // rumqttc's default limit (10 KiB) is below a desired state with a few
    // hundred map lines, or a report with many counters; a message over the
    // limit would end the connection and, retained, end every next one.
    mqtt.set_max_packet_size(MAX_MESSAGE, MAX_MESSAGE);
    if let Some((topic, payload)) = &options.will {
        mqtt.set_last_will(LastWill::new(topic, payload.clone(), QoS::AtLeastOnce, true));
    }
    mqtt.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(tls_config(options)?))));
    let (client, connection) = Client::new(mqtt, 64);
    std::thread::Builder::new()
        .name("galette-mqtt".into())
        .spawn(move || run(connection, events))
        .expect("spawning the MQTT thread");
    Ok(client)
}

/// Drives the connection: each error is reported once, then the next
/// attempt waits twice as long as the last (up to [`LONGEST_RETRY`]).
fn run(mut connection: Connection, events: Sender<MqttEvent>) {
    let mut wait = FIRST_RETRY;
    for event in connection.iter() {
        let sent = match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                wait = FIRST_RETRY;
                events.send(MqttEvent::Connected)
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                events.send(MqttEvent::Message { topic: publish.topic.clone(), payload: publish.payload.to_vec() })
            }
            // The user disconnected: no reconnecting (a reconnect under the
            // same client id would throw out the user's next connection).
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(Event::Incoming(Packet::PubAck(_))) => events.send(MqttEvent::Published),
            Ok(Event::Incoming(Packet::SubAck(_))) => events.send(MqttEvent::Subscribed),
            Ok(_) => Ok(()),
            Err(error) => {
                let sent = events.send(MqttEvent::Disconnected(error.to_string()));
                std::thread::sleep(wait);
                wait = (wait * 2).min(LONGEST_RETRY);
                sent
            }
        };
        if sent.is_err() {
            return; // The agent is gone.
        }
    }
}

/// TLS trusting only the fleet CA, and presenting the client certificate.
fn tls_config(options: &BrokerOptions) -> Result<rustls::ClientConfig, MqttSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(&options.ca)? {
        roots.add(cert).map_err(|error| MqttSetupError::Identity(format!("the fleet CA: {error}")))?;
    }
    let chain = certificates(&options.cert)?;
    let key = PrivateKeyDer::from_pem_file(&options.key)
        .map_err(|_| MqttSetupError::NoPem { path: options.key.clone(), what: "private key" })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| MqttSetupError::Identity(error.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|error| MqttSetupError::Identity(error.to_string()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, MqttSetupError> {
    let bytes = std::fs::read(path).map_err(|source| MqttSetupError::Read { path: path.to_owned(), source })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(MqttSetupError::NoPem { path: path.to_owned(), what: "certificate" });
    }
    Ok(certs)
}
