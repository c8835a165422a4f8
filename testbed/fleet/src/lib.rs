//! A fleet on one machine, for the fleet's end-to-end tests and
//! `cargo xtask demo-fleet`: Mosquitto (Debian's, TLS with
//! `require_certificate`, `use_identity_as_username` and the fleet's ACL) and
//! docker-registry in an infrastructure namespace on 198.18.9.1, and devices,
//! each a gateway namespace with its own veth testbed and traffic, reaching
//! them over a management link through a bridge. Each runs `galette agent`;
//! the admin's side is `galette-ctl`'s library, the same code as its
//! commands. Everything is removed when the [`FleetNetwork`] is dropped.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use galette_ctl::fleet::{self, DeviceView, FleetDir};
use galette_fleet::pki::FleetCa;
use galette_oci::signature::generate_key_pair;
use galette_test_servers::{Mosquitto, MosquittoOptions, Registry, RegistryOptions};
use galette_testbed::{NetworkNamespace, TestBpffs, VethPair, attach_xdp_pass, probe_reflector};

/// The broker's and the registry's address, in the infrastructure namespace.
pub const INFRA_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 9, 1);
/// The group every device is enrolled in.
pub const GROUP: &str = "lab";
/// A probe: this many frames, each waited for this long.
pub const PROBE_FRAMES: u32 = 10;
const PROBE_TIMEOUT: Duration = Duration::from_millis(20);

/// One device: its data-plane testbed, its management link, its agent.
pub struct Device {
    pub id: String,
    /// Its testbed: `a` is the gateway (where the agent and its chain run),
    /// `b` the client that sends traffic.
    pub pair: VethPair,
    _client_program: galette_testbed::XdpPassProgram,
    state: tempfile::TempDir,
    /// Its own bpffs: one device, one bpffs, as on real hardware (two chains
    /// of one name in one bpffs would share pins).
    bpffs: TestBpffs,
    agent: Option<Child>,
}

/// The infrastructure and the devices.
pub struct FleetNetwork {
    pub infra: NetworkNamespace,
    pub broker: Mosquitto,
    pub registry: Registry,
    pub fleet: FleetDir,
    _fleet_files: tempfile::TempDir,
    pub devices: Vec<Device>,
    /// The `galette` the agents run, and the source tree chains come from.
    galette: PathBuf,
    project_root: PathBuf,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().unwrap();
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

impl FleetNetwork {
    /// The infrastructure and `devices` devices (`gw1`, `gw2`...), their
    /// agents started with `galette`; chains are read from `project_root`.
    pub fn create(tag: &str, devices: usize, galette: &Path, project_root: &Path) -> FleetNetwork {
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
                let bpffs = TestBpffs::mount(&format!("fleet-{tag}{index}")).unwrap();
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
        let mut network = FleetNetwork {
            infra,
            broker,
            registry,
            fleet,
            _fleet_files: files,
            devices,
            galette: galette.to_owned(),
            project_root: project_root.to_owned(),
        };
        for index in 0..network.devices.len() {
            network.start_agent(index);
        }
        network
    }

    pub fn broker_address(&self) -> String {
        self.broker.address().to_string()
    }

    pub fn start_agent(&mut self, index: usize) {
        let device = &self.devices[index];
        let mut arguments = vec!["--bpffs".into(), device.bpffs.path.clone().into_os_string()];
        let setup = AgentSetup {
            id: &device.id,
            group: GROUP,
            fleet: &self.fleet,
            broker: &self.broker,
            registry: &self.registry,
            state: device.state.path(),
        };
        arguments.extend(setup.arguments(&["--report-interval", "0.5"]));
        arguments.extend(["--".into(), "--iface".into(), device.pair.a().interface().into()]);
        let child = Command::new("ip")
            .args(["netns", "exec", device.pair.a().namespace()])
            .arg(&self.galette)
            .args(arguments)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.devices[index].agent = Some(child);
    }

    /// Stops an agent with SIGTERM: it detaches its chain and says goodbye.
    pub fn stop_agent(&mut self, index: usize) {
        if let Some(mut agent) = self.devices[index].agent.take() {
            // SAFETY: kill(2) on our own child (`ip netns exec` execs galette).
            unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
            let status = agent.wait().unwrap();
            assert!(status.success(), "agent {} exited with {status}", self.devices[index].id);
        }
    }

    /// Pushes `chain` (signed) as `fleet/marks:TAG`; its reference.
    pub fn publish_bundle(&self, chain: &str, tag: &str) -> galette_oci::Reference {
        self.publish_bundle_with(chain, tag, &galettec::CompileOptions::from_env())
    }

    pub fn publish_bundle_with(
        &self,
        chain: &str,
        tag: &str,
        options: &galettec::CompileOptions,
    ) -> galette_oci::Reference {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        galettec::compile_chain(&self.project_root.join(chain), &bundle, options).unwrap();
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

    pub fn registry_options(&self) -> galette_oci::ClientOptions {
        galette_oci::ClientOptions {
            ca_file: Some(self.registry.ca_file().to_owned()),
            credentials: self.registry.credentials(),
            ..galette_oci::ClientOptions::default()
        }
    }

    /// Runs an admin command (galette-ctl's code) from the infrastructure
    /// namespace, where the broker and the registry are.
    pub fn admin<T: Send>(&self, command: impl FnOnce(&FleetDir, &str) -> T + Send) -> T {
        let broker = self.broker_address();
        galette_testbed::run_in_netns(self.infra.name(), || command(&self.fleet, &broker)).unwrap()
    }

    pub fn devices_view(&self) -> std::collections::BTreeMap<String, DeviceView> {
        self.admin(|fleet, broker| fleet::devices(fleet, broker).unwrap())
    }

    /// Waits (at most `patience`) until every device reports running
    /// `bundle_digest` at a version of at least `version`.
    pub fn wait_all_running(&self, bundle_digest: &str, patience: Duration) -> Duration {
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
    pub fn wait_all_reporting_no_error(&self) {
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
    pub fn wait_all_reporting(&self, what: &str, needle: &str) {
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
    pub fn wait_traffic(&self, what: &str, patience: Duration, test: impl Fn(usize, u32) -> bool) -> Duration {
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

    /// Publishes `reference` while every device carries a steady stream of
    /// sequenced frames (2000 a second), waits until all run it, and
    /// returns each device's stream report and the bundle's digest.
    pub fn publish_under_traffic(
        &self,
        reference: &galette_oci::Reference,
    ) -> std::io::Result<(Vec<galette_testbed::StreamReport>, String)> {
        let plan = || galette_testbed::StreamPlan::at_rate(2_000, Duration::from_secs(60));
        let streams = self
            .devices
            .iter()
            .map(|device| galette_testbed::SequencedStream::start(device.pair.b(), device.pair.a(), plan()))
            .collect::<std::io::Result<Vec<_>>>()?;
        std::thread::sleep(Duration::from_millis(500));
        let digest = self.publish(reference);
        self.wait_all_running(&digest, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(500));
        let reports = streams
            .into_iter()
            .map(galette_testbed::SequencedStream::stop_and_finish)
            .collect::<std::io::Result<_>>()?;
        Ok((reports, digest))
    }

    pub fn set_acl(&self, rules: &str) {
        let file = self._fleet_files.path().join("acl_v4.txt");
        std::fs::write(&file, rules).unwrap();
        let audience = galette_fleet::state::Audience::Group(GROUP.to_owned());
        self.admin(|fleet, broker| fleet::maps_set(fleet, broker, &audience, "acl_v4", &file).unwrap());
    }

    pub fn publish(&self, reference: &galette_oci::Reference) -> String {
        let audience = galette_fleet::state::Audience::Group(GROUP.to_owned());
        let options = self.registry_options();
        self.admin(|fleet, broker| fleet::publish(fleet, broker, &audience, reference, &options).unwrap());
        let resolved =
            galette_testbed::run_in_netns(self.infra.name(), || fleet::resolve_bundle(reference, &options).unwrap())
                .unwrap();
        resolved.bundle_digest
    }

    pub fn admin_identity(&self) -> (PathBuf, PathBuf) {
        (self.fleet.admin().join("admin.crt"), self.fleet.admin().join("admin.key"))
    }

    pub fn ca_file(&self) -> PathBuf {
        self.fleet.ca().join("ca.crt")
    }
}

/// What `galette agent` is told about one device of a fleet: its identity
/// and group (as enrolled), the fleet's key, the broker and the registry.
pub struct AgentSetup<'a> {
    pub id: &'a str,
    pub group: &'a str,
    pub fleet: &'a FleetDir,
    pub broker: &'a Mosquitto,
    pub registry: &'a Registry,
    /// Its own directory: control sockets, store, cache.
    pub state: &'a Path,
}

impl AgentSetup<'_> {
    /// `galette`'s arguments from `--run-dir` to the agent's own options,
    /// `extra` among them (what may follow is `-- RUN ARGS`).
    pub fn arguments(&self, extra: &[&str]) -> Vec<std::ffi::OsString> {
        let credentials = self.fleet.ca().join("devices").join(self.id);
        let (user, password) = self.registry.credentials().unwrap_or_default();
        // `--run-dir` is a global option: before `agent`.
        let mut arguments: Vec<std::ffi::OsString> = vec!["--run-dir".into(), self.state.join("run").into()];
        arguments.extend(["agent", "--device", self.id, "--group", self.group].map(Into::into));
        let mut add = |name: &str, value: std::ffi::OsString| {
            arguments.push(name.into());
            arguments.push(value);
        };
        add("--broker", self.broker.address().to_string().into());
        add("--broker-ca", self.fleet.ca().join("ca.crt").into());
        add("--cert", credentials.join("device.crt").into());
        add("--key", credentials.join("device.key").into());
        add("--trust-key", self.fleet.public_key().into());
        add("--ca", self.registry.ca_file().into());
        add("--user", format!("{user}:{password}").into());
        add("--store", self.state.join("store").into());
        add("--state-dir", self.state.join("agent").into());
        arguments.extend(extra.iter().map(Into::into));
        arguments
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
