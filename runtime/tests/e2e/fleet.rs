//! A fleet for real: Mosquitto (Debian's, TLS with `require_certificate`,
//! `use_identity_as_username` and the fleet's ACL) and docker-registry in an
//! infrastructure namespace on 198.18.9.1, and two devices, each a gateway
//! namespace with its own veth testbed and traffic, reaching them over a
//! management link. Each runs `galette agent`; the admin's side is
//! `galette-ctl`'s library, the same code as its commands.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use galette_ctl::fleet::{self, DeviceView, FleetDir};
use galette_fleet::acl::{group_desired_topic, reported_topic};
use galette_fleet::pki::FleetCa;
use galette_oci::signature::generate_key_pair;
use galette_test_servers::{Mosquitto, MosquittoOptions, Registry, RegistryOptions, mosquitto_pub, mosquitto_sub};
use galette_testbed::{NetworkNamespace, SequencedStream, StreamPlan, VethPair, attach_xdp_pass, probe_reflector};

use crate::support::{TestBpffs, project_root};

const INFRA_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 9, 1);
const GROUP: &str = "lab";
/// A probe: this many frames, each waited for this long.
const PROBE_FRAMES: u32 = 10;
const PROBE_TIMEOUT: Duration = Duration::from_millis(20);

/// One device: its data-plane testbed, its management link, its agent.
struct Device {
    id: String,
    pair: VethPair,
    _client_program: galette_testbed::XdpPassProgram,
    state: tempfile::TempDir,
    /// Its own bpffs: one device, one bpffs, as on real hardware (two chains
    /// of one name in one bpffs would share pins).
    bpffs: TestBpffs,
    agent: Option<Child>,
}

/// The infrastructure and the devices.
struct FleetNetwork {
    infra: NetworkNamespace,
    broker: Mosquitto,
    registry: Registry,
    fleet: FleetDir,
    _fleet_files: tempfile::TempDir,
    devices: Vec<Device>,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().unwrap();
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

impl FleetNetwork {
    fn create(tag: &str, devices: usize) -> FleetNetwork {
        let prefix = galette_testbed::unique_namespace_prefix(tag).unwrap();
        let infra = NetworkNamespace::create(&format!("{prefix}-infra")).unwrap();
        let ns = infra.name().to_owned();
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &ns, "addr", "add", &format!("{INFRA_IP}/24"), "dev", "br0"]);
        ip(&["-n", &ns, "link", "set", "br0", "up"]);

        // The fleet: signing key, CA, admin, broker certificate, devices.
        let files = tempfile::tempdir().unwrap();
        let fleet = FleetDir(files.path().to_owned());
        generate_key_pair(&fleet.signing_key(), &fleet.public_key()).unwrap();
        fleet::ca_init(&fleet, "galette test fleet").unwrap();
        let broker_dir = files.path().join("broker");
        fleet::broker_cert(&fleet, &[INFRA_IP.to_string()], &broker_dir).unwrap();
        let ids: Vec<String> = (1..=devices).map(|n| format!("gw{n}")).collect();
        for id in &ids {
            fleet::enroll(&fleet, id, &[GROUP.to_owned()], None).unwrap();
        }
        let ca = FleetCa::open(&fleet.ca()).unwrap();
        let broker = Mosquitto::start(MosquittoOptions {
            ca_file: ca.ca_cert_path(),
            cert_file: broker_dir.join("broker.crt"),
            key_file: broker_dir.join("broker.key"),
            acl_file: fleet.acl(),
            crl_file: Some(ca.crl_path()),
            address: IpAddr::V4(INFRA_IP),
            namespace: Some(ns.clone()),
        });
        let registry = Registry::start_in_namespace_on(RegistryOptions::default(), &ns, IpAddr::V4(INFRA_IP));

        let devices = ids
            .into_iter()
            .enumerate()
            .map(|(index, id)| {
                let pair = VethPair::create(&format!("{tag}{index}")).unwrap();
                let client_program = attach_xdp_pass(pair.b().namespace(), pair.b().interface()).unwrap();
                // The management link: the gateway namespace to the bridge.
                let (device_end, infra_end) = (format!("{tag}m{index}d"), format!("{tag}m{index}i"));
                ip(&["link", "add", &device_end, "type", "veth", "peer", "name", &infra_end]);
                ip(&["link", "set", &device_end, "netns", pair.a().namespace()]);
                ip(&["link", "set", &infra_end, "netns", &ns]);
                ip(&["-n", &ns, "link", "set", &infra_end, "master", "br0", "up"]);
                let address = format!("198.18.9.{}/24", 10 + index);
                ip(&["-n", pair.a().namespace(), "addr", "add", &address, "dev", &device_end]);
                ip(&["-n", pair.a().namespace(), "link", "set", &device_end, "up"]);
                let bpffs = TestBpffs::mount(&format!("{tag}{index}"));
                Device {
                    id,
                    pair,
                    _client_program: client_program,
                    state: tempfile::tempdir().unwrap(),
                    bpffs,
                    agent: None,
                }
            })
            .collect();
        let mut network = FleetNetwork { infra, broker, registry, fleet, _fleet_files: files, devices };
        for index in 0..network.devices.len() {
            network.start_agent(index);
        }
        network
    }

    fn broker_address(&self) -> String {
        self.broker.address().to_string()
    }

    fn start_agent(&mut self, index: usize) {
        let ca = FleetCa::open(&self.fleet.ca()).unwrap();
        let device = &self.devices[index];
        let credentials = self.ca_dir_of(&device.id);
        let (user, password) = self.registry.credentials().unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", device.pair.a().namespace()])
            .arg(env!("CARGO_BIN_EXE_galette"))
            .arg("--run-dir")
            .arg(device.state.path().join("run"))
            .arg("--bpffs")
            .arg(&device.bpffs.path)
            .args(["agent", "--device", &device.id, "--group", GROUP, "--broker", &self.broker_address()])
            .arg("--broker-ca")
            .arg(ca.ca_cert_path())
            .arg("--cert")
            .arg(credentials.join("device.crt"))
            .arg("--key")
            .arg(credentials.join("device.key"))
            .arg("--trust-key")
            .arg(self.fleet.public_key())
            .arg("--ca")
            .arg(self.registry.ca_file())
            .args(["--user", &format!("{user}:{password}")])
            .arg("--store")
            .arg(device.state.path().join("store"))
            .arg("--state-dir")
            .arg(device.state.path().join("agent"))
            .args(["--report-interval", "0.5", "--", "--iface", device.pair.a().interface()])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.devices[index].agent = Some(child);
    }

    /// Stops an agent with SIGTERM: it detaches its chain and says goodbye.
    fn stop_agent(&mut self, index: usize) {
        if let Some(mut agent) = self.devices[index].agent.take() {
            // SAFETY: kill(2) on our own child (`ip netns exec` execs galette).
            unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
            let status = agent.wait().unwrap();
            assert!(status.success(), "agent {} exited with {status}", self.devices[index].id);
        }
    }

    fn ca_dir_of(&self, device: &str) -> PathBuf {
        self.fleet.ca().join("devices").join(device)
    }

    /// Pushes `chain` (signed) as `fleet/marks:TAG`; its reference.
    fn publish_bundle(&self, chain: &str, tag: &str) -> galette_oci::Reference {
        self.publish_bundle_with(chain, tag, &galettec::CompileOptions::from_env())
    }

    fn publish_bundle_with(
        &self,
        chain: &str,
        tag: &str,
        options: &galettec::CompileOptions,
    ) -> galette_oci::Reference {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        galettec::compile_chain(&project_root().join(chain), &bundle, options).unwrap();
        let reference =
            galette_oci::Reference::parse(&format!("{}/fleet/marks:{tag}", self.registry.address())).unwrap();
        let key = galette_oci::signature::read_private_key(&self.fleet.signing_key()).unwrap();
        let options = self.registry_options();
        galette_testbed::run_in_netns(self.infra.name(), || {
            let mut client = galette_oci::RegistryClient::new(&reference.registry, &options).unwrap();
            galette_oci::push::push(&bundle, &reference, &mut client, Some(&key)).unwrap();
        })
        .unwrap();
        reference
    }

    fn registry_options(&self) -> galette_oci::ClientOptions {
        galette_oci::ClientOptions {
            ca_file: Some(self.registry.ca_file().to_owned()),
            credentials: self.registry.credentials(),
            ..galette_oci::ClientOptions::default()
        }
    }

    /// Runs an admin command (galette-ctl's code) from the infrastructure
    /// namespace, where the broker and the registry are.
    fn admin<T: Send>(&self, command: impl FnOnce(&FleetDir, &str) -> T + Send) -> T {
        let broker = self.broker_address();
        galette_testbed::run_in_netns(self.infra.name(), || command(&self.fleet, &broker)).unwrap()
    }

    fn devices_view(&self) -> std::collections::BTreeMap<String, DeviceView> {
        self.admin(|fleet, broker| fleet::devices(fleet, broker).unwrap())
    }

    /// Waits (at most `patience`) until every device reports running
    /// `bundle_digest` at a version of at least `version`.
    fn wait_all_running(&self, bundle_digest: &str, patience: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let view = self.devices_view();
            let done = self.devices.iter().all(|device| {
                view.get(&device.id)
                    .and_then(|v| v.report.as_ref())
                    .and_then(|report| report.running.as_ref())
                    .is_some_and(|running| running.bundle_digest == bundle_digest)
            });
            if done {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < patience,
                "not every device runs {bundle_digest} after {patience:?}: {view:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (at most 10 s) until no device reports an error.
    fn wait_all_reporting_no_error(&self) {
        let started = Instant::now();
        loop {
            let view = self.devices_view();
            if self.devices.iter().all(|device| {
                view.get(&device.id).and_then(|v| v.report.as_ref()).is_some_and(|report| report.last_error.is_none())
            }) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "errors still reported: {view:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (at most 10 s) until every device's last error says `needle`.
    fn wait_all_reporting(&self, what: &str, needle: &str) {
        let started = Instant::now();
        loop {
            let view = self.devices_view();
            let all = self.devices.iter().all(|device| {
                view.get(&device.id)
                    .and_then(|v| v.report.as_ref())
                    .and_then(|report| report.last_error.as_deref())
                    .is_some_and(|error| error.contains(needle))
            });
            if all {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{what} was not reported by every device: {view:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (at most `patience`) until `test` holds for every device, given
    /// its index and how many of a probe of [`PROBE_FRAMES`] came back
    /// swapped. The devices are probed at once, each probe short (a frame
    /// the chain drops costs its whole timeout), so the time measured is
    /// the chain's, not the probe's.
    fn wait_traffic(&self, what: &str, patience: Duration, test: impl Fn(usize, u32) -> bool) -> Duration {
        let started = Instant::now();
        loop {
            let swapped: Vec<u32> = std::thread::scope(|scope| {
                let probes: Vec<_> = self
                    .devices
                    .iter()
                    .map(|device| {
                        scope.spawn(|| {
                            probe_reflector(device.pair.b(), device.pair.a(), PROBE_FRAMES, PROBE_TIMEOUT)
                                .unwrap()
                                .swapped
                        })
                    })
                    .collect();
                probes.into_iter().map(|probe| probe.join().unwrap()).collect()
            });
            if swapped.iter().enumerate().all(|(index, &count)| test(index, count)) {
                return started.elapsed();
            }
            assert!(started.elapsed() < patience, "{what}: after {patience:?}, frames back per device {swapped:?}");
        }
    }

    fn set_acl(&self, rules: &str) {
        let file = self._fleet_files.path().join("acl_v4.txt");
        std::fs::write(&file, rules).unwrap();
        let audience = galette_fleet::state::Audience::Group(GROUP.to_owned());
        self.admin(|fleet, broker| fleet::maps_set(fleet, broker, &audience, "acl_v4", &file).unwrap());
    }

    fn publish(&self, reference: &galette_oci::Reference) -> String {
        let audience = galette_fleet::state::Audience::Group(GROUP.to_owned());
        let options = self.registry_options();
        self.admin(|fleet, broker| fleet::publish(fleet, broker, &audience, reference, &options).unwrap());
        let resolved =
            galette_testbed::run_in_netns(self.infra.name(), || fleet::resolve_bundle(reference, &options).unwrap())
                .unwrap();
        resolved.bundle_digest
    }

    fn admin_identity(&self) -> (PathBuf, PathBuf) {
        (self.fleet.admin().join("admin.crt"), self.fleet.admin().join("admin.key"))
    }

    fn ca_file(&self) -> PathBuf {
        self.fleet.ca().join("ca.crt")
    }
}

impl Drop for FleetNetwork {
    fn drop(&mut self) {
        for index in 0..self.devices.len() {
            if let Some(mut agent) = self.devices[index].agent.take() {
                let _ = agent.kill();
                let _ = agent.wait();
            }
        }
    }
}

#[test]
fn a_fleet_follows_publishes_and_map_changes_live_and_refuses_replays() {
    let network = FleetNetwork::create("flt", 2);
    let once = network.publish_bundle("tests/reload/marks_once.gal", "once");
    let twice = network.publish_bundle("tests/reload/marks_twice.gal", "twice");

    // A publish reaches both devices within 5 s; the empty allow list lets
    // nothing through yet.
    let once_digest = network.publish(&once);
    let took = network.wait_all_running(&once_digest, Duration::from_secs(5));
    eprintln!("both devices ran the first bundle {took:?} after the publish");
    network.set_acl("198.18.0.0/15 1\n");
    network
        .wait_traffic("after allowing the test prefix", Duration::from_secs(2), |_, swapped| swapped == PROBE_FRAMES);

    // The desired state as it is now, for replaying later.
    let (admin_cert, admin_key) = network.admin_identity();
    let ca = network.ca_file();
    let identity = (admin_cert.as_path(), admin_key.as_path());
    let address: SocketAddr = network.broker.address();
    let old = mosquitto_sub(
        address,
        Some(network.infra.name()),
        identity,
        &ca,
        &group_desired_topic(GROUP),
        1,
        Duration::from_secs(3),
    )
    .unwrap();
    assert_eq!(old.len(), 1, "the retained desired state");

    // An update under steady traffic loses no frame on either device.
    let streams: Vec<SequencedStream> = network
        .devices
        .iter()
        .map(|device| {
            SequencedStream::start(
                device.pair.b(),
                device.pair.a(),
                StreamPlan::at_rate(2_000, Duration::from_secs(60)),
            )
            .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let twice_digest = network.publish(&twice);
    network.wait_all_running(&twice_digest, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    for (device, stream) in network.devices.iter().zip(streams) {
        let report = stream.stop_and_finish().unwrap();
        assert!(report.lost().is_empty(), "{}: {} of {} frames lost", device.id, report.lost().len(), report.sent);
        assert!(report.duplicated().is_empty(), "{}: frames came back twice", device.id);
        assert_eq!(report.ttl_histogram().len(), 2, "{}: frames ran in both chains", device.id);
    }

    // A bundle the devices' kernel verifier rejects (built without asking
    // this machine's): each reports the verifier's refusal and keeps
    // running what it ran.
    let unverified = galettec::CompileOptions { verify: false, ..galettec::CompileOptions::from_env() };
    let rejected = network.publish_bundle_with("tests/reload/verifier_rejects.gal", "rejected", &unverified);
    network.publish(&rejected);
    network.wait_all_reporting("the verifier's refusal", "could not be loaded");
    network.wait_traffic("after the rejected bundle", Duration::from_secs(1), |_, swapped| swapped == PROBE_FRAMES);
    assert!(network.devices_view().values().all(|view| {
        view.report
            .as_ref()
            .and_then(|r| r.running.as_ref())
            .is_some_and(|running| running.bundle_digest == twice_digest)
    }));
    // The admin goes back to the good bundle (a new version of it).
    network.publish(&twice);
    network.wait_all_reporting_no_error();

    // Denying the prefix stops its traffic on both within 2 s.
    network.set_acl("198.18.0.0/15 2\n");
    let took = network.wait_traffic("after denying the test prefix", Duration::from_secs(2), |_, swapped| swapped == 0);
    eprintln!("traffic stopped {took:?} after the deny");

    // A client nobody here wrote reads the documented report.
    let reported = mosquitto_sub(
        address,
        Some(network.infra.name()),
        identity,
        &ca,
        &reported_topic("gw1"),
        1,
        Duration::from_secs(3),
    )
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&reported[0]).unwrap();
    assert_eq!(report["format"], "galette-reported-v1");
    assert_eq!(report["device"], "gw1");
    assert_eq!(report["running"]["bundle_digest"], twice_digest.as_str());
    assert!(report["counters"]["instances"].is_array(), "{report}");

    // The old desired state replayed: refused by both, and reported.
    mosquitto_pub(address, Some(network.infra.name()), identity, &ca, &group_desired_topic(GROUP), &old[0], true)
        .unwrap();
    network.wait_all_reporting("the replay's refusal", "not newer");
    network.wait_traffic("after the replay", Duration::from_secs(1), |_, swapped| swapped == 0);
}

#[test]
fn without_a_broker_devices_keep_forwarding_resume_from_their_cache_and_catch_up() {
    let mut network = FleetNetwork::create("flb", 2);
    let once = network.publish_bundle("tests/reload/marks_once.gal", "once");
    let digest = network.publish(&once);
    network.wait_all_running(&digest, Duration::from_secs(5));
    network.set_acl("198.18.0.0/15 1\n");
    network.wait_traffic("allowed", Duration::from_secs(2), |_, swapped| swapped == PROBE_FRAMES);

    network.broker.stop();
    network.wait_traffic("with the broker stopped", Duration::from_secs(1), |_, swapped| swapped == PROBE_FRAMES);
    // An agent restarted while the broker is away resumes its cached chain.
    network.stop_agent(0);
    network.wait_traffic("with gw1's agent stopped", Duration::from_secs(1), |index, swapped| {
        swapped == if index == 0 { 0 } else { PROBE_FRAMES }
    });
    network.start_agent(0);
    network.wait_traffic("gw1 resumed from its cache", Duration::from_secs(20), |_, swapped| swapped == PROBE_FRAMES);

    network.broker.restart();
    network.set_acl("198.18.0.0/15 2\n");
    let took =
        network.wait_traffic("caught up after the broker returned", Duration::from_secs(30), |_, swapped| swapped == 0);
    eprintln!("both devices applied the change {took:?} after the broker returned");
}
