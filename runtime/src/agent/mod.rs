//! `galette agent`: a device of a fleet. It connects out to the fleet's MQTT
//! broker with its own certificate (nothing listens on the device), follows
//! the desired state the admin publishes for it and its groups (signed by
//! the fleet's key, newer versions only), pulls the bundle it names from a
//! registry, runs it live (a `galette run` it supervises, reloaded without
//! losing a packet), keeps the chain's maps as desired, and reports its
//! state. Without a broker it keeps forwarding with the last good chain, and
//! after a restart it resumes that chain from its cache. docs/fleet.md has
//! the topics and payloads.

mod applied;
mod chain_process;
mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use galette_bundle::Bundle;
use galette_fleet::acl::{desired_topic, group_desired_topic, presence_topic, reported_topic};
use galette_fleet::mqtt::{self, MqttEvent};
use galette_fleet::state::{Audience, DesiredError, DesiredState, OFFLINE, ONLINE, SignedDesiredState};
use rumqttc::{Client, QoS};

pub use chain_process::RunSettings;
pub use galette_fleet::mqtt::BrokerOptions;

use self::applied::Applied;
use self::chain_process::ChainProcess;
use crate::RunError;
use crate::bundle_source::{RegistryAccess, pull_bundle};
use crate::map_command::PinnedMap;
use crate::shutdown::ShutdownFlag;
use crate::trust::Trust;

/// Everything `galette agent` is told.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub device: String,
    pub groups: Vec<String>,
    pub broker: BrokerOptions,
    /// The fleet's public key: desired states and bundles must be signed by it.
    pub trust_key: PathBuf,
    pub access: RegistryAccess,
    pub run: RunSettings,
    /// Where the agent keeps the last applied state, to resume after a
    /// restart without a broker.
    pub state_dir: PathBuf,
    pub report_interval: Duration,
    /// Whether to run chains at all (off only to measure the control plane
    /// alone, e.g. hundreds of agents on one machine).
    pub data_plane: bool,
}

/// What applying a desired state did.
struct Applying {
    summary: String,
    /// Why a map could not be filled, when the bundle runs but one could not.
    map_error: Option<String>,
}

/// The agent's state between events.
struct Agent {
    config: AgentConfig,
    fleet_key: VerifyingKey,
    trust: Trust,
    applied: Option<Applied>,
    chain: Option<ChainProcess>,
    last_error: Option<String>,
    /// The last payload seen on each topic: a retained message delivered
    /// again on every reconnect is not judged again.
    seen: HashMap<String, Vec<u8>>,
}

pub fn run(config: AgentConfig, shutdown: &ShutdownFlag) -> Result<(), RunError> {
    let trust = Trust::from_key_file(Some(&config.trust_key))?;
    let fleet_key = *trust.key().expect("a key was given");
    let mut agent =
        Agent { config, fleet_key, trust, applied: None, chain: None, last_error: None, seen: HashMap::new() };
    agent.resume();
    let (events_tx, events) = mpsc::channel();
    let mut broker = agent.config.broker.clone();
    broker.will = Some((presence_topic(&agent.config.device), OFFLINE.as_bytes().to_vec()));
    let client = mqtt::connect(&broker, events_tx).map_err(|error| RunError::Agent(error.to_string()))?;
    log(&format!("device `{}` connecting to {}:{}", agent.config.device, broker.host, broker.port));
    let mut connected = false;
    let mut next_report = Instant::now() + agent.config.report_interval;
    while !shutdown.requested() {
        match events.recv_timeout(Duration::from_millis(200)) {
            Ok(MqttEvent::Connected) => {
                connected = true;
                log("connected to the broker");
                agent.subscribe(&client);
                publish(&client, &presence_topic(&agent.config.device), ONLINE.as_bytes());
                agent.report(&client);
            }
            Ok(MqttEvent::Disconnected(why)) => {
                if connected {
                    log(&format!("lost the broker ({why}); the chain keeps running; reconnecting"));
                }
                connected = false;
            }
            Ok(MqttEvent::Message { topic, payload }) => {
                if agent.seen.get(&topic) != Some(&payload) {
                    agent.seen.insert(topic.clone(), payload.clone());
                    agent.on_desired(&topic, &payload);
                    agent.report(&client);
                }
            }
            Ok(MqttEvent::Published | MqttEvent::Subscribed) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(RunError::Agent("the MQTT connection ended".into())),
        }
        agent.watch_chain();
        if connected && Instant::now() >= next_report {
            agent.report(&client);
            next_report = Instant::now() + agent.config.report_interval;
        }
    }
    log("stopping");
    publish(&client, &presence_topic(&agent.config.device), OFFLINE.as_bytes());
    let _ = client.try_disconnect();
    if let Some(mut chain) = agent.chain.take() {
        chain.stop();
    }
    Ok(())
}

fn log(message: &str) {
    eprintln!("galette agent: {message}");
}

/// Publishes a retained message without ever blocking the agent: while the
/// broker is away the queue may fill, and a report can wait for the next.
fn publish(client: &Client, topic: &str, payload: &[u8]) {
    let _ = client.try_publish(topic, QoS::AtLeastOnce, true, payload.to_vec());
}

impl Agent {
    /// The device's own desired topic and its groups'.
    fn desired_topics(&self) -> Vec<String> {
        let mut topics = vec![desired_topic(&self.config.device)];
        topics.extend(self.config.groups.iter().map(|group| group_desired_topic(group)));
        topics
    }

    fn subscribe(&self, client: &Client) {
        for topic in self.desired_topics() {
            if let Err(error) = client.try_subscribe(&topic, QoS::AtLeastOnce) {
                log(&format!("cannot subscribe to {topic}: {error}"));
            }
        }
    }

    /// A refusal or failure: logged and reported, never silent.
    fn refuse(&mut self, message: String) {
        log(&message);
        self.last_error = Some(message);
    }

    /// Starts again what ran before the agent stopped: the cached desired
    /// state, checked again, and its bundle.
    fn resume(&mut self) {
        match Applied::load(&self.config.state_dir, &self.fleet_key, &self.trust) {
            Ok(None) => log("no cached chain: waiting for a desired state"),
            Ok(Some(applied)) => {
                log(&format!("resuming version {} from the cache", applied.desired.state.version));
                let resumed = self.start_chain(&applied).and_then(|()| {
                    if !self.config.data_plane {
                        return Ok(String::new());
                    }
                    let bundle = self.trust.open(&applied.bundle_dir)?;
                    self.fill_maps(&bundle, &applied.desired.state)
                });
                if let Err(error) = resumed {
                    self.refuse(format!("cannot resume the cached chain: {}", error.one_line()));
                }
                self.applied = Some(applied);
            }
            Err(error) => self.refuse(format!("ignoring the cache: {}", error.one_line())),
        }
    }

    fn on_desired(&mut self, topic: &str, payload: &[u8]) {
        match self.judge(topic, payload) {
            Ok(Some(signed)) => {
                let version = signed.state.version;
                match self.apply(signed) {
                    Ok(Applying { summary, map_error: None }) => {
                        self.last_error = None;
                        log(&format!("applied version {version}: {summary}"));
                    }
                    Ok(Applying { summary, map_error: Some(error) }) => {
                        self.refuse(format!("version {version} runs ({summary}), but its maps failed: {error}"));
                    }
                    Err(error) => self.refuse(format!(
                        "version {version} not applied, still running {}: {}",
                        self.describe_running(),
                        error.one_line()
                    )),
                }
            }
            Ok(None) => {}
            Err(error) => self.refuse(format!("refused the desired state on {topic}: {error}")),
        }
    }

    /// Checks a desired state: the fleet's signature, meant for this device
    /// on this topic, newer than what runs. `None` when it is what runs.
    fn judge(&self, topic: &str, payload: &[u8]) -> Result<Option<SignedDesiredState>, DesiredError> {
        let signed = SignedDesiredState::from_json(payload)?;
        let state = signed.verify(&self.fleet_key)?;
        let for_topic = match &state.audience {
            Audience::Device(id) => *id == self.config.device && topic == desired_topic(id),
            Audience::Group(group) => self.config.groups.contains(group) && topic == group_desired_topic(group),
        };
        if !for_topic {
            return Err(DesiredError::NotForUs { for_whom: state.audience.clone() });
        }
        if let Some(applied) = &self.applied {
            let running = &applied.desired.state;
            if state == running {
                return Ok(None);
            }
            if state.version <= running.version {
                return Err(DesiredError::NotNewer { offered: state.version, running: running.version });
            }
        }
        Ok(Some(signed))
    }

    /// Pulls, runs and fills what `signed` asks for. Until its bundle runs,
    /// any failure leaves what ran before running as it was (an `Err`);
    /// once it runs, the state is applied, and a map that cannot be filled
    /// is said in `map_error`.
    fn apply(&mut self, signed: SignedDesiredState) -> Result<Applying, RunError> {
        let state = &signed.state;
        let Some(wanted) = &state.bundle else {
            return Err(RunError::Agent("the desired state names no bundle".into()));
        };
        let same_bundle = self.applied.as_ref().is_some_and(|applied| {
            applied.desired.state.bundle.as_ref().map(|bundle| &bundle.bundle_digest) == Some(&wanted.bundle_digest)
        });
        let dir = match &self.applied {
            Some(applied) if same_bundle => applied.bundle_dir.clone(),
            _ => {
                let reference = galette_oci::Reference::parse(&wanted.reference)?;
                let pulled = pull_bundle(&reference, &self.config.access, &self.trust, None)?;
                if pulled.bundle_digest.to_string() != wanted.bundle_digest {
                    return Err(RunError::Agent(format!(
                        "{} is bundle {}, not the {} the desired state names",
                        wanted.reference, pulled.bundle_digest, wanted.bundle_digest
                    )));
                }
                log(&crate::bundle_source::describe_pull(&pulled));
                pulled.dir
            }
        };
        let bundle = self.trust.open(&dir)?;
        let applied = Applied { desired: signed.clone(), bundle_dir: dir, chain: bundle.manifest.chain.clone() };
        if self.config.data_plane {
            match &self.chain {
                Some(chain) if !same_bundle => {
                    chain.reload(&applied.bundle_dir)?;
                }
                Some(_) => {}
                // Nothing runs: never started, or it stopped by itself.
                None => self.start_chain(&applied)?,
            }
        }
        let (maps, map_error) = match self.config.data_plane.then(|| self.fill_maps(&bundle, state)) {
            None => (String::new(), None),
            Some(Ok(maps)) => (maps, None),
            Some(Err(error)) => (String::new(), Some(error.one_line().to_string())),
        };
        applied.save(&self.config.state_dir)?;
        let summary = format!("bundle {} ({}){maps}", wanted.bundle_digest, applied.chain);
        self.applied = Some(applied);
        Ok(Applying { summary, map_error })
    }

    /// Starts the chain of `applied`; the caller fills its maps (once it
    /// runs, a map that cannot be filled no longer undoes the state: it is
    /// applied, and the map's failure is said).
    fn start_chain(&mut self, applied: &Applied) -> Result<(), RunError> {
        if !self.config.data_plane {
            return Ok(());
        }
        let chain = ChainProcess::start(&applied.bundle_dir, &applied.chain, &self.config.run)?;
        self.chain = Some(chain);
        Ok(())
    }

    /// Makes each map of the desired state hold exactly its entries.
    fn fill_maps(&self, bundle: &Bundle, state: &DesiredState) -> Result<String, RunError> {
        let mut summary = String::new();
        for (name, lines) in &state.maps {
            let map = PinnedMap::open(bundle, &self.config.run.bpffs, name)?;
            let change = map.replace(&lines.join("\n"))?;
            summary += &format!("; map {name}: {} set, {} deleted", change.set, change.deleted);
        }
        Ok(summary)
    }

    /// Notices a chain that stopped by itself, and says so.
    fn watch_chain(&mut self) {
        let stopped = self.chain.as_mut().and_then(ChainProcess::exited);
        if let Some(status) = stopped {
            self.chain = None;
            self.refuse(format!("the chain stopped by itself ({status})"));
        }
    }

    fn describe_running(&self) -> String {
        match &self.applied {
            Some(applied) => format!("version {}", applied.desired.state.version),
            None => "nothing".to_owned(),
        }
    }

    fn report(&self, client: &Client) {
        let state = report::reported_state(self);
        publish(client, &reported_topic(&self.config.device), &serde_json::to_vec(&state).expect("reports serialise"));
    }
}
