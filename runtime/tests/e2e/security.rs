//! The paper's security chain against real traffic from programs nobody here
//! wrote: `examples/security.gal` as a two-port bump in the wire between a
//! client and a server namespace, with iperf3, curl against Python's
//! http.server, and nmap, all from Debian's packages (`cargo xtask setup`
//! installs them).

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use galette_testbed::{GatewayTopology, attach_xdp_pass, run_in_netns, xdp_program_attached};

use crate::support::{RunningGalette, STATS_JSON, example_bundle, final_counters, port, project_root};

/// A LAN host that only browses: the fast path all the way.
const BENIGN: Ipv4Addr = GatewayTopology::CLIENT_IP;
/// A LAN host that probes a few ports, then sends requests: suspicious, so
/// its traffic goes through DPI.
const PROBER: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 66);
/// A LAN host that scans a thousand ports: malicious.
const SCANNER: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 77);
/// A host in the prefix `examples/security/acl_v4.txt` quarantines.
const QUARANTINED: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 200);

const SERVER: Ipv4Addr = GatewayTopology::SERVER_IP;
/// The size of the file the server offers.
const DOWNLOAD_BYTES: usize = 1 << 20;

#[test]
fn the_security_chain_lets_normal_traffic_through_and_stops_attacks() {
    let topology = GatewayTopology::create("e2e-sec").unwrap();
    let (client, server, gateway) = (topology.client(), topology.server(), topology.gateway_namespace());
    // Frames redirected into a veth only arrive if its peer runs XDP too.
    let _client_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let _server_program = attach_xdp_pass(server.namespace(), server.interface()).unwrap();
    topology.disable_tx_offload().unwrap();
    for address in [PROBER, SCANNER, QUARANTINED] {
        topology.add_client_address(address).unwrap();
    }

    let site = tempfile::tempdir().unwrap();
    let download: Vec<u8> = (0..DOWNLOAD_BYTES).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(site.path().join("big.bin"), &download).unwrap();
    std::fs::write(site.path().join("index.txt"), "hello through the gateway\n").unwrap();
    let http_log = site.path().join("http.log");
    let _http = Background::start(
        server.namespace(),
        "/usr/bin/python3",
        &["-m", "http.server", "80", "--bind", &SERVER.to_string(), "--directory", site.path().to_str().unwrap()],
        Some(&http_log),
    );
    let _iperf = Background::start(server.namespace(), "iperf3", &["--server", "--bind", &SERVER.to_string()], None);
    wait_listening(server.namespace(), SocketAddr::from((SERVER, 80)));
    wait_listening(server.namespace(), SocketAddr::from((SERVER, 5201)));

    // A window long enough that the prober stays suspicious for the whole
    // test; the example's other thresholds.
    let thresholds = site.path().join("classifier.txt");
    std::fs::write(&thresholds, "0 600000000000\n1 32\n2 256\n3 16\n4 64\n").unwrap();
    let examples = project_root().join("examples/security");
    let loads = [
        format!("acl_v4={}", examples.join("acl_v4.txt").display()),
        format!("acl_v6={}", examples.join("acl_v6.txt").display()),
        format!("classifier_config={}", thresholds.display()),
    ];
    let roles = [format!("lan={}", GatewayTopology::LAN), format!("wan={}", GatewayTopology::WAN)];
    let mut arguments = vec!["--iface", &roles[0], "--iface", &roles[1], STATS_JSON];
    for load in &loads {
        arguments.extend(["--load", load.as_str()]);
    }
    let signatures = examples.join("signatures.txt");
    let mut running = RunningGalette::start_with_env(
        gateway,
        &example_bundle("security"),
        &arguments,
        &[("GALETTE_DPI_SIGNATURES", &signatures)],
    );
    running.wait_attached(gateway, GatewayTopology::LAN);
    running.wait_attached(gateway, GatewayTopology::WAN);
    let client_ns = client.namespace();

    // A benign host: a download arrives whole, and an iperf3 TCP transfer
    // completes.
    let fetched = site.path().join("fetched.bin");
    let output = curl(client_ns, BENIGN, "/big.bin", &["--output", fetched.to_str().unwrap()]);
    assert!(output.status.success(), "download: {}", describe(&output));
    assert!(std::fs::read(&fetched).unwrap() == download, "the download arrived changed");
    let iperf = in_namespace(
        client_ns,
        "iperf3",
        &["--client", &SERVER.to_string(), "--bind", &BENIGN.to_string(), "--bytes", "20M", "--json"],
        30,
    );
    assert!(iperf.status.success(), "iperf3: {}", describe(&iperf));
    // The client stops once the 20 MB are in its socket, so the server's
    // report may miss the last in-flight part: sent is exact, received not.
    let report = String::from_utf8_lossy(&iperf.stdout);
    let (sent, received) = (
        json_number_after(&report, "\"sum_sent\"", "\"bytes\""),
        json_number_after(&report, "\"sum_received\"", "\"bytes\""),
    );
    assert!(
        sent >= 20_000_000.0 && received >= 5_000_000.0,
        "iperf3 sent {sent} bytes, the server received {received}"
    );

    // A host that probed 40 ports is suspicious: its requests go through
    // DPI, which passes normal ones and blocks those with a signature (a
    // built-in one in the path, one from signatures.txt in a header).
    let probe = nmap(client_ns, PROBER, "1-40");
    assert!(probe.status.success(), "nmap: {}", describe(&probe));
    let normal = curl(client_ns, PROBER, "/index.txt", &[]);
    assert!(
        normal.status.success() && normal.stdout == b"hello through the gateway\n",
        "a normal request from the prober: {}",
        describe(&normal)
    );
    let traversal = curl(client_ns, PROBER, "/etc/passwd", &["--max-time", "3"]);
    assert!(!traversal.status.success(), "a request for /etc/passwd got through: {}", describe(&traversal));
    let shellshock =
        curl(client_ns, PROBER, "/index.txt", &["--max-time", "3", "--user-agent", "() { :;}; /bin/cat /etc/hostname"]);
    assert!(!shellshock.status.success(), "a Shellshock header got through: {}", describe(&shellshock));
    let again = curl(client_ns, PROBER, "/index.txt", &[]);
    assert!(again.status.success(), "a normal request after the blocked ones: {}", describe(&again));

    // The quarantined prefix never reaches the server.
    let quarantined = curl(client_ns, QUARANTINED, "/index.txt", &["--max-time", "3"]);
    assert!(!quarantined.status.success(), "the quarantined host got an answer: {}", describe(&quarantined));

    // A thousand-port SYN scan makes its source malicious.
    let scan = nmap(client_ns, SCANNER, "1-1000");
    assert!(scan.status.success(), "nmap: {}", describe(&scan));

    // The benign host is unharmed by all this.
    let last = curl(client_ns, BENIGN, "/index.txt", &[]);
    assert!(last.status.success(), "a benign request at the end: {}", describe(&last));

    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let counters = final_counters(&output);
    eprintln!("{counters:?}");
    let count = |instance: &str, port_name: &str| port(&counters, instance, port_name);
    assert!(count("acl", "denied") >= 1, "the quarantined SYNs are denied: {counters:?}");
    assert!(count("classifier", "benign") > 10_000, "the benign traffic took the fast path: {counters:?}");
    assert!(count("classifier", "suspicious") > 0 && count("classifier", "malicious") > 0, "{counters:?}");
    assert!(count("dpi", "clean") > 0, "the prober's normal traffic went through DPI: {counters:?}");
    assert!(count("dpi", "attack") >= 2, "both attacks were caught by DPI: {counters:?}");

    let log = std::fs::read_to_string(&http_log).unwrap();
    assert!(!log.contains(&QUARANTINED.to_string()), "the quarantined host reached the server:\n{log}");
    assert!(!log.contains("/etc/passwd"), "the traversal reached the server:\n{log}");
    assert!(log.contains(&format!("{PROBER} ")), "the prober's normal requests reached the server:\n{log}");
    for interface in [GatewayTopology::LAN, GatewayTopology::WAN] {
        assert!(!xdp_program_attached(gateway, interface).unwrap(), "{interface} left attached");
    }
}

/// `curl` from `source` for `path` on the server; the body on stdout.
pub(crate) fn curl(namespace: &str, source: Ipv4Addr, path: &str, extra: &[&str]) -> Output {
    let url = format!("http://{SERVER}{path}");
    let source = source.to_string();
    let mut arguments = vec!["--silent", "--show-error", "--fail", "--interface", source.as_str()];
    if !extra.contains(&"--max-time") {
        arguments.extend(["--max-time", "20"]);
    }
    arguments.extend_from_slice(extra);
    arguments.push(&url);
    in_namespace(namespace, "curl", &arguments, 30)
}

/// An nmap SYN scan of `ports` on the server, sent from `source`.
fn nmap(namespace: &str, source: Ipv4Addr, ports: &str) -> Output {
    let source = source.to_string();
    let server = SERVER.to_string();
    // -Pn: no ping first; -n: no DNS; -S/-e: from this address, out of
    // eth0; one try per port keeps the scan short and its SYNs countable.
    let arguments = ["-sS", "-Pn", "-n", "-e", "eth0", "-S", &source, "--max-retries", "0", "-p", ports, &server];
    in_namespace(namespace, "nmap", &arguments, 120)
}

/// Runs `program` in `namespace`, killed after `seconds`.
pub(crate) fn in_namespace(namespace: &str, program: &str, arguments: &[&str], seconds: u32) -> Output {
    Command::new("ip")
        .args(["netns", "exec", namespace, "timeout", "--signal=KILL", &seconds.to_string(), program])
        .args(arguments)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"))
}

pub(crate) fn describe(output: &Output) -> String {
    format!(
        "{} {}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout).chars().take(500).collect::<String>()
    )
}

/// The first number after `key` that follows `section` in `json`: enough to
/// read one figure of iperf3's report without a JSON parser.
pub(crate) fn json_number_after(json: &str, section: &str, key: &str) -> f64 {
    let rest = json.split(section).nth(1).unwrap_or_else(|| panic!("no {section} in {json}"));
    let after = rest.split(key).nth(1).unwrap_or_else(|| panic!("no {key} after {section}"));
    let digits: String = after
        .trim_start_matches(|c: char| c == ':' || c.is_whitespace())
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '+')
        .collect();
    digits.parse().unwrap_or_else(|_| panic!("not a number after {key}: {digits:?}"))
}

/// Waits until something listens on `address` in `namespace`.
pub(crate) fn wait_listening(namespace: &str, address: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let up = run_in_netns(namespace, || TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok())
            .unwrap();
        if up {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on {address}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A server in a namespace, killed when dropped.
pub(crate) struct Background {
    child: Child,
    log_copier: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts `program`; its standard error (where http.server logs each
    /// request) is copied line by line into `log`, if given.
    pub(crate) fn start(namespace: &str, program: &str, arguments: &[&str], log: Option<&Path>) -> Background {
        let mut child = Command::new("ip")
            .args(["netns", "exec", namespace, program])
            .args(arguments)
            .stdout(Stdio::null())
            .stderr(if log.is_some() { Stdio::piped() } else { Stdio::null() })
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {program}: {err}"));
        let log_copier = log.map(|path| {
            let stderr = child.stderr.take().expect("piped");
            let copy_to = path.to_owned();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut file = std::fs::File::create(copy_to).unwrap();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let _ = writeln!(file, "{line}");
                    let _ = file.flush();
                }
            })
        });
        Background { child, log_copier }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(copier) = self.log_copier.take() {
            let _ = copier.join();
        }
    }
}
