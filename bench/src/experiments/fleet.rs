//! A fleet at scale: one publish to many agents on this machine, through
//! one Mosquitto, with a docker-registry serving the bundle. The agents are
//! real `galette agent` processes, each with its own device certificate,
//! run with `--no-data-plane` (hundreds of chains cannot share one
//! machine's interfaces; the control plane is what is measured).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use galette_bench_report::{FleetScale, percentile};
use galette_ctl::fleet::{self, FleetDir};
use galette_fleet::acl::TOPIC_ROOT;
use galette_fleet::mqtt::{self, BrokerOptions, MqttEvent};
use galette_fleet::pki::FleetCa;
use galette_fleet::state::{Audience, ReportedState};
use galette_fleet_testbed::AgentSetup;
use galette_oci::signature::{generate_key_pair, read_private_key};
use galette_test_servers::{Mosquitto, MosquittoOptions, Registry, RegistryOptions};

use crate::BenchError;
use crate::experiments::compile_file;

const GROUP: &str = "bench";
/// How long every agent may take to report a bundle.
const PATIENCE: Duration = Duration::from_secs(120);

fn setup(what: &str) -> impl Fn(String) -> BenchError + '_ {
    move |reason| BenchError::Setup(format!("{what}: {reason}"))
}

pub fn run(root: &Path, work_dir: &Path, galette: &Path, quick: bool) -> Result<Vec<FleetScale>, BenchError> {
    let agents = if quick { 50 } else { 200 };
    let dir = work_dir.join("fleet");
    std::fs::create_dir_all(&dir)
        .map_err(|err| BenchError::Setup(format!("cannot create {}: {err}", dir.display())))?;
    let fleet_dir = FleetDir(dir.join("fleet"));
    std::fs::create_dir_all(&fleet_dir.0).map_err(|err| BenchError::Setup(err.to_string()))?;
    generate_key_pair(&fleet_dir.signing_key(), &fleet_dir.public_key())
        .map_err(|e| setup("the fleet key")(e.to_string()))?;
    fleet::ca_init(&fleet_dir, "galette bench fleet").map_err(|e| setup("the fleet CA")(e.to_string()))?;
    let broker_dir = dir.join("broker");
    fleet::broker_cert(&fleet_dir, &["127.0.0.1".to_owned()], &broker_dir)
        .map_err(|e| setup("the broker")(e.to_string()))?;
    let ids: Vec<String> = (0..agents).map(|n| format!("agent-{n:03}")).collect();
    let mut ca = FleetCa::open(&fleet_dir.ca()).map_err(|e| setup("the fleet CA")(e.to_string()))?;
    for id in &ids {
        ca.enroll(id, &[GROUP.to_owned()], None).map_err(|e| setup("enrolling")(e.to_string()))?;
    }
    std::fs::write(fleet_dir.acl(), galette_fleet::acl::broker_acl(&ca.devices()))
        .map_err(|e| setup("the broker ACL")(e.to_string()))?;
    let broker = Mosquitto::start(MosquittoOptions {
        ca_file: ca.ca_cert_path(),
        cert_file: broker_dir.join("broker.crt"),
        key_file: broker_dir.join("broker.key"),
        acl_file: fleet_dir.acl(),
        crl_file: Some(ca.crl_path()),
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        namespace: None,
    });
    let registry = Registry::start(RegistryOptions::default());
    let registry_options = galette_oci::ClientOptions {
        ca_file: Some(registry.ca_file().to_owned()),
        credentials: registry.credentials(),
        ..galette_oci::ClientOptions::default()
    };
    let first = push(root, &dir, &registry, &registry_options, &fleet_dir, "examples/macswap.gal", "v1")?;
    let second = push(root, &dir, &registry, &registry_options, &fleet_dir, "examples/counted_reflector.gal", "v2")?;

    println!("  starting {agents} agents (--no-data-plane)");
    let mut processes = Agents(Vec::new());
    for id in &ids {
        let state = dir.join("agents").join(id);
        let setup =
            AgentSetup { id, group: GROUP, fleet: &fleet_dir, broker: &broker, registry: &registry, state: &state };
        processes.0.push(start_agent(galette, &setup)?);
    }
    let audience = Audience::Group(GROUP.to_owned());
    let broker_address = broker.address().to_string();
    // The first bundle, so every agent has pulled once and is settled.
    let watcher = Watcher::start(&fleet_dir, &broker_address)?;
    fleet::publish(&fleet_dir, &broker_address, &audience, &first.0, &registry_options)
        .map_err(|e| BenchError::Run(format!("publishing: {e}")))?;
    watcher.wait_all(&ids, &first.1, Instant::now())?;
    std::thread::sleep(Duration::from_secs(1));

    let pids: Vec<u32> = processes.0.iter().map(Child::id).collect();
    let (broker_pid, registry_pid) = (broker.pid().unwrap_or(0), registry.pid().unwrap_or(0));
    let before: Vec<u64> = pids.iter().map(|&pid| cpu_ms(pid)).collect();
    let (broker_before, registry_before) = (cpu_ms(broker_pid), cpu_ms(registry_pid));
    let started = Instant::now();
    fleet::publish(&fleet_dir, &broker_address, &audience, &second.0, &registry_options)
        .map_err(|e| BenchError::Run(format!("publishing: {e}")))?;
    let arrivals = watcher.wait_all(&ids, &second.1, started)?;
    std::thread::sleep(Duration::from_millis(500));
    let after: Vec<u64> = pids.iter().map(|&pid| cpu_ms(pid)).collect();
    let rss: Vec<f64> = pids.iter().map(|&pid| rss_kib(pid) as f64).collect();
    let n = agents as f64;
    let mut times: Vec<f64> = arrivals.values().map(|time| time.as_secs_f64() * 1e3).collect();
    times.sort_by(f64::total_cmp);
    let result = FleetScale {
        agents: agents as u32,
        p50_ms: percentile(&times, 50.0),
        p99_ms: percentile(&times, 99.0),
        max_ms: times.last().copied().unwrap_or(0.0),
        agent_cpu_ms: after.iter().zip(&before).map(|(a, b)| a.saturating_sub(*b) as f64).sum::<f64>() / n,
        agent_rss_kib_mean: rss.iter().sum::<f64>() / n,
        agent_rss_kib_max: rss.iter().copied().fold(0.0, f64::max),
        broker_cpu_ms_per_agent: cpu_ms(broker_pid).saturating_sub(broker_before) as f64 / n,
        broker_rss_kib_per_agent: rss_kib(broker_pid) as f64 / n,
        registry_cpu_ms_per_agent: cpu_ms(registry_pid).saturating_sub(registry_before) as f64 / n,
    };
    println!(
        "  {agents} agents: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {:.1} ms CPU and {:.0} KiB per agent",
        result.p50_ms, result.p99_ms, result.max_ms, result.agent_cpu_ms, result.agent_rss_kib_mean
    );
    drop(processes);
    Ok(vec![result])
}

/// Compiles and pushes `chain` as `fleet/bench:TAG`: its reference and its
/// bundle digest.
fn push(
    root: &Path,
    dir: &Path,
    registry: &Registry,
    options: &galette_oci::ClientOptions,
    fleet_dir: &FleetDir,
    chain: &str,
    tag: &str,
) -> Result<(galette_oci::Reference, String), BenchError> {
    let bundle = compile_file(&root.join(chain), &dir.join(format!("{tag}.bundle")))?;
    let reference = galette_oci::Reference::parse(&format!("{}/fleet/bench:{tag}", registry.address()))
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let key = read_private_key(&fleet_dir.signing_key()).map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut client =
        galette_oci::RegistryClient::new(&reference.registry, options).map_err(|e| BenchError::Setup(e.to_string()))?;
    let report = galette_oci::push::push(&bundle, &reference, &mut client, Some(&key))
        .map_err(|e| BenchError::Setup(format!("pushing {chain}: {e}")))?;
    Ok((reference, report.bundle_digest.to_string()))
}

fn start_agent(galette: &Path, setup: &AgentSetup) -> Result<Child, BenchError> {
    Command::new(galette)
        .args(setup.arguments(&["--no-data-plane", "--report-interval", "60"]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| BenchError::Setup(format!("cannot start an agent: {err}")))
}

/// The agents, stopped (SIGTERM) when dropped.
struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for agent in &self.0 {
            // SAFETY: kill(2) on our own children.
            unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
        }
        for agent in &mut self.0 {
            let _ = agent.wait();
        }
    }
}

/// The admin's subscription to every report, with when each arrived.
struct Watcher {
    _client: rumqttc::Client,
    events: mpsc::Receiver<MqttEvent>,
}

impl Watcher {
    fn start(fleet_dir: &FleetDir, broker: &str) -> Result<Watcher, BenchError> {
        let (host, port) = broker.rsplit_once(':').unwrap_or((broker, "8883"));
        let options = BrokerOptions {
            host: host.to_owned(),
            port: port.parse().unwrap_or(8883),
            ca: fleet_dir.ca().join("ca.crt"),
            cert: fleet_dir.admin().join("admin.crt"),
            key: fleet_dir.admin().join("admin.key"),
            client_id: "galette-admin-bench".to_owned(),
            will: None,
        };
        let (sender, events) = mpsc::channel();
        let client = mqtt::connect(&options, sender).map_err(|e| BenchError::Setup(e.to_string()))?;
        let watcher = Watcher { _client: client, events };
        loop {
            match watcher.events.recv_timeout(Duration::from_secs(10)) {
                Ok(MqttEvent::Connected) => break,
                Ok(_) => {}
                Err(_) => return Err(BenchError::Setup("the admin's subscriber did not connect".into())),
            }
        }
        watcher
            ._client
            .subscribe(format!("{TOPIC_ROOT}/devices/+/reported"), rumqttc::QoS::AtLeastOnce)
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        Ok(watcher)
    }

    /// Waits until every agent of `ids` reported running `digest`; when
    /// each did, counted from `since`.
    fn wait_all(&self, ids: &[String], digest: &str, since: Instant) -> Result<BTreeMap<String, Duration>, BenchError> {
        let mut arrived = BTreeMap::new();
        let deadline = since + PATIENCE;
        while arrived.len() < ids.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(MqttEvent::Message { payload, .. }) => {
                    let Ok(report) = serde_json::from_slice::<ReportedState>(&payload) else { continue };
                    let runs = report.running.as_ref().is_some_and(|running| running.bundle_digest == digest);
                    if runs && !arrived.contains_key(&report.device) {
                        arrived.insert(report.device.clone(), since.elapsed());
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(BenchError::Run(format!(
                        "only {} of {} agents reported {digest} within {PATIENCE:?}",
                        arrived.len(),
                        ids.len()
                    )));
                }
            }
        }
        Ok(arrived)
    }
}

/// User and system CPU time of process `pid`, in ms (0 if it is gone).
fn cpu_ms(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // The fields after the command name (in parentheses, which may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1000 / per_second
}

/// Resident memory of process `pid`, KiB (0 if it is gone).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:")?.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
