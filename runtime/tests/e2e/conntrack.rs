//! The stateful firewall of `examples/security.gal` (`std.conntrack_out` on
//! the LAN side, `std.conntrack_in` on the WAN side, one connection table)
//! against real clients and sockets: what the LAN opens works both ways
//! (curl, iperf3, UDP, TCP over IPv6) and ICMP errors about it come in,
//! nothing the WAN opens reaches the LAN (an nmap scan, an unsolicited
//! datagram and SYN, over IPv4 and IPv6), a UDP reply after its connection
//! timed out does not arrive, and the table is readable with `galette map
//! dump` and survives a live reload, with TCP connections open across it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use galette_testbed::{GatewayTopology, TestBpffs, attach_xdp_pass, run_in_netns, xdp_program_attached};
use galettec::{CompileOptions, compile_chain};

use crate::security::{Background, curl, describe, in_namespace, json_number_after, wait_listening};
use crate::support::{RunningGalette, STATS_JSON, example_bundle, final_counters, galette, port, project_root};

const LAN_HOST: Ipv4Addr = GatewayTopology::CLIENT_IP;
const WAN_HOST: Ipv4Addr = GatewayTopology::SERVER_IP;
/// The UDP unreplied timeout loaded into `conntrack_timeouts` (index 6).
const UNREPLIED_TIMEOUT: Duration = Duration::from_secs(2);
/// LAN sockets the WAN tries to reach unsolicited.
const LAN_TCP_PORT: u16 = 8080;
const LAN_UDP_PORT: u16 = 9999;
/// WAN sockets the LAN talks to.
const WAN_UDP_PORT: u16 = 7000;
const WAN_TCP_PORT: u16 = 7001;
/// The same over IPv6.
const LAN_TCP_PORT_V6: u16 = 8081;
const WAN_TCP_PORT_V6: u16 = 7003;
/// A WAN port nobody listens on.
const CLOSED_WAN_PORT: u16 = 7002;
/// How long a socket waits for what should, or should not, arrive.
const WAIT: Duration = Duration::from_secs(1);

#[test]
fn the_stateful_firewall_lets_only_replies_in_and_keeps_its_connections_across_a_reload() {
    let started = Instant::now();
    let topology = GatewayTopology::create("e2e-ct").unwrap();
    let (client, server, gateway) = (topology.client(), topology.server(), topology.gateway_namespace());
    let (lan, wan) = (client.namespace(), server.namespace());
    let _client_program = attach_xdp_pass(lan, client.interface()).unwrap();
    let _server_program = attach_xdp_pass(wan, server.interface()).unwrap();
    topology.disable_tx_offload().unwrap();

    // The WAN server's file, HTTP and iperf3 servers.
    let site = tempfile::tempdir().unwrap();
    let download: Vec<u8> = (0..256 * 1024).map(|i: usize| (i * 13 % 251) as u8).collect();
    std::fs::write(site.path().join("file.bin"), &download).unwrap();
    let _http = Background::start(
        wan,
        "/usr/bin/python3",
        &["-m", "http.server", "80", "--bind", &WAN_HOST.to_string(), "--directory", site.path().to_str().unwrap()],
        None,
    );
    let _iperf = Background::start(wan, "iperf3", &["--server", "--bind", &WAN_HOST.to_string()], None);
    wait_listening(wan, SocketAddr::from((WAN_HOST, 80)));
    wait_listening(wan, SocketAddr::from((WAN_HOST, 5201)));

    // The bundle a reload switches to, compiled before the chain starts:
    // the example with a smaller `flows` map, which the reload recreates
    // (the connection table must not be).
    let changed_dir = tempfile::tempdir().unwrap();
    let changed_bundle = changed_dir.path().join("security-changed.bundle");
    let source = std::fs::read_to_string(project_root().join("examples/security.gal")).unwrap();
    let changed = source.replace("lru_hash<SourceKey, SourceStats>[65536]", "lru_hash<SourceKey, SourceStats>[32768]");
    assert_ne!(changed, source, "examples/security.gal no longer declares `flows` as expected");
    let changed_chain = changed_dir.path().join("security.gal");
    std::fs::write(&changed_chain, changed).unwrap();
    compile_chain(&changed_chain, &changed_bundle, &CompileOptions::from_env()).unwrap();
    let bundle = example_bundle("security");

    let bpffs = TestBpffs::mount("conntrack").unwrap();
    let run_dir = tempfile::tempdir().unwrap();
    let control = Control { bpffs: bpffs.path.to_str().unwrap(), run_dir: run_dir.path().to_str().unwrap() };
    let timeouts = site.path().join("timeouts.txt");
    std::fs::write(&timeouts, format!("6 {}\n", UNREPLIED_TIMEOUT.as_secs())).unwrap();
    let examples = project_root().join("examples/security");
    let loads = [
        format!("acl_v4={}", examples.join("acl_v4.txt").display()),
        format!("acl_v6={}", examples.join("acl_v6.txt").display()),
        format!("classifier_config={}", examples.join("classifier.txt").display()),
        format!("conntrack_timeouts={}", timeouts.display()),
    ];
    let roles = [format!("lan={}", GatewayTopology::LAN), format!("wan={}", GatewayTopology::WAN)];
    let mut arguments = vec!["--iface", &roles[0], "--iface", &roles[1], STATS_JSON];
    arguments.extend(["--bpffs", control.bpffs, "--run-dir", control.run_dir]);
    for load in &loads {
        arguments.extend(["--load", load.as_str()]);
    }
    let signatures = examples.join("signatures.txt");
    let mut running =
        RunningGalette::start_with_env(gateway, &bundle, &arguments, &[("GALETTE_DPI_SIGNATURES", &signatures)]);
    running.wait_attached(gateway, GatewayTopology::LAN);
    running.wait_attached(gateway, GatewayTopology::WAN);
    eprintln!("conntrack e2e: chain running after {:.1?}", started.elapsed());

    // What the LAN opens works: a download arrives whole, iperf3 moves data.
    let fetched = site.path().join("fetched.bin");
    let output = curl(lan, LAN_HOST, "/file.bin", &["--output", fetched.to_str().unwrap()]);
    assert!(output.status.success(), "download: {}", describe(&output));
    assert!(std::fs::read(&fetched).unwrap() == download, "the download arrived changed");
    let iperf = in_namespace(
        lan,
        "iperf3",
        &["--client", &WAN_HOST.to_string(), "--bind", &LAN_HOST.to_string(), "--time", "2", "--json"],
        20,
    );
    assert!(iperf.status.success(), "iperf3: {}", describe(&iperf));
    let report = String::from_utf8_lossy(&iperf.stdout);
    let received_bps = json_number_after(&report, "\"sum_received\"", "\"bits_per_second\"");
    assert!(received_bps > 1e6, "iperf3 through the firewall: {received_bps} bit/s");
    eprintln!("conntrack e2e: iperf3 {:.0} Mbit/s, after {:.1?}", received_bps / 1e6, started.elapsed());

    // LAN sockets the WAN tries to reach on its own.
    let lan_listener = in_ns(lan, || TcpListener::bind((LAN_HOST, LAN_TCP_PORT)));
    lan_listener.set_nonblocking(true).unwrap();
    let lan_udp = in_ns(lan, || UdpSocket::bind((LAN_HOST, LAN_UDP_PORT)));
    lan_udp.set_read_timeout(Some(WAIT)).unwrap();

    // An unsolicited datagram and SYN from the WAN do not arrive. (Had the
    // SYN arrived, the LAN's SYN-ACK would have gone out and the connect
    // succeeded.)
    let wan_udp = in_ns(wan, || UdpSocket::bind((WAN_HOST, 0)));
    wan_udp.send_to(b"unsolicited", (LAN_HOST, LAN_UDP_PORT)).unwrap();
    let mut buffer = [0u8; 64];
    assert_nothing(lan_udp.recv_from(&mut buffer), "an unsolicited datagram from the WAN");
    let lan_tcp = SocketAddr::from((LAN_HOST, LAN_TCP_PORT));
    let syn = run_in_netns(wan, || TcpStream::connect_timeout(&lan_tcp, WAIT)).unwrap();
    assert!(syn.is_err(), "a connection from the WAN to the LAN's listener was opened");
    assert_no_connection(&lan_listener, "the WAN's connect");

    // An nmap SYN scan from the WAN finds every port filtered, the one the
    // LAN really listens on included, and the listener sees nothing.
    let ports = format!("1-1024,{LAN_TCP_PORT}");
    let scan = in_namespace(
        wan,
        "nmap",
        &[
            "-sS",
            "-Pn",
            "-n",
            "-T4",
            "--min-rate",
            "1000",
            "-e",
            "eth0",
            "--max-retries",
            "0",
            "-p",
            &ports,
            &LAN_HOST.to_string(),
        ],
        120,
    );
    assert!(scan.status.success(), "nmap: {}", describe(&scan));
    let scan_report = String::from_utf8_lossy(&scan.stdout);
    assert!(scan_report.contains("1025 filtered tcp ports"), "not every port is filtered:\n{scan_report}");
    let open_or_closed: Vec<&str> = scan_report
        .lines()
        .filter(|line| line.contains("/tcp") && (line.contains(" open") || line.contains(" closed")))
        .collect();
    assert!(open_or_closed.is_empty(), "nmap found ports: {open_or_closed:?}\n{scan_report}");
    assert_no_connection(&lan_listener, "the nmap scan");
    eprintln!("conntrack e2e: scan done after {:.1?}", started.elapsed());

    // UDP from the LAN: a reply within the (short) unreplied timeout
    // arrives; one sent after it has passed does not.
    let responder = in_ns(wan, || UdpSocket::bind((WAN_HOST, WAN_UDP_PORT)));
    responder.set_read_timeout(Some(WAIT)).unwrap();
    let on_time = in_ns(lan, || UdpSocket::bind((LAN_HOST, 0)));
    let late = in_ns(lan, || UdpSocket::bind((LAN_HOST, 0)));
    for socket in [&on_time, &late] {
        socket.set_read_timeout(Some(WAIT)).unwrap();
        socket.send_to(b"request", (WAN_HOST, WAN_UDP_PORT)).unwrap();
    }
    let mut asked = Vec::new();
    for _ in 0..2 {
        let (length, from) = responder.recv_from(&mut buffer).expect("the LAN's datagrams reach the WAN");
        assert_eq!(&buffer[..length], b"request");
        asked.push(from);
    }
    let on_time_port = on_time.local_addr().unwrap().port();
    let late_port = late.local_addr().unwrap().port();
    assert!(asked.iter().any(|from| from.port() == on_time_port) && asked.iter().any(|from| from.port() == late_port));
    std::thread::sleep(Duration::from_millis(500));
    responder.send_to(b"on time", (LAN_HOST, on_time_port)).unwrap();
    let (length, _) = on_time.recv_from(&mut buffer).expect("a reply within the timeout arrives");
    assert_eq!(&buffer[..length], b"on time");
    std::thread::sleep(UNREPLIED_TIMEOUT + Duration::from_millis(500));
    responder.send_to(b"too late", (LAN_HOST, late_port)).unwrap();
    assert_nothing(late.recv_from(&mut buffer), "a UDP reply after the unreplied timeout");
    // An ICMP error about a LAN connection is let in as related: a
    // datagram to a WAN port nobody listens on is refused.
    let refused = in_ns(lan, || UdpSocket::bind((LAN_HOST, 0)));
    refused.set_read_timeout(Some(WAIT)).unwrap();
    refused.connect((WAN_HOST, CLOSED_WAN_PORT)).unwrap();
    refused.send(b"anyone?").unwrap();
    let error = refused.recv(&mut buffer).expect_err("nobody answers on a closed port");
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "the WAN's port unreachable did not arrive: {error}");
    eprintln!("conntrack e2e: UDP done after {:.1?}", started.elapsed());

    // The same over IPv6 (the link-local addresses the topology has): a
    // connection from the LAN works, one from the WAN does not arrive.
    let (lan_v6, wan_v6) = (link_local(lan, client.interface()), link_local(wan, server.interface()));
    let (lan_scope, wan_scope) = (client.ifindex(), server.ifindex());
    let (mut connection_v6, mut served_v6) = open_from_lan(
        (lan, SocketAddr::V6(SocketAddrV6::new(wan_v6, WAN_TCP_PORT_V6, 0, lan_scope))),
        (wan, SocketAddr::V6(SocketAddrV6::new(wan_v6, WAN_TCP_PORT_V6, 0, wan_scope))),
    );
    let lan_v6_listener = in_ns(lan, || TcpListener::bind(SocketAddrV6::new(lan_v6, LAN_TCP_PORT_V6, 0, lan_scope)));
    lan_v6_listener.set_nonblocking(true).unwrap();
    let lan_v6_tcp = SocketAddr::V6(SocketAddrV6::new(lan_v6, LAN_TCP_PORT_V6, 0, wan_scope));
    let syn = run_in_netns(wan, || TcpStream::connect_timeout(&lan_v6_tcp, WAIT)).unwrap();
    assert!(syn.is_err(), "a connection from the WAN to the LAN's listener was opened over IPv6");
    assert_no_connection(&lan_v6_listener, "the WAN's IPv6 connect");
    let tcp_v6_key =
        format!("tcp:[{lan_v6}]:{}->[{wan_v6}]:{WAN_TCP_PORT_V6}", connection_v6.local_addr().unwrap().port());
    eprintln!("conntrack e2e: IPv6 done after {:.1?}", started.elapsed());

    // A TCP connection from the LAN, open across a dump and a reload.
    let wan_tcp = SocketAddr::from((WAN_HOST, WAN_TCP_PORT));
    let (mut connection, mut served) = open_from_lan((lan, wan_tcp), (wan, wan_tcp));
    let tcp_key = format!("tcp:{LAN_HOST}:{}->{WAN_HOST}:{WAN_TCP_PORT}", connection.local_addr().unwrap().port());

    let dump = control.dump(&bundle);
    eprintln!("conntrack e2e: connections before the reload:\n{dump}");
    let before = entry_of(&dump, &tcp_key);
    assert!(before.starts_with("established,age="), "{tcp_key} {before}");
    for part in ["idle=", "out=", "in="] {
        assert!(before.contains(part), "no {part} in {before}");
    }
    let on_time_entry = entry_of(&dump, &format!("udp:{LAN_HOST}:{on_time_port}->{WAN_HOST}:{WAN_UDP_PORT}"));
    assert!(on_time_entry.starts_with("replied,"), "the answered UDP connection: {on_time_entry}");
    let late_entry = entry_of(&dump, &format!("udp:{LAN_HOST}:{late_port}->{WAN_HOST}:{WAN_UDP_PORT}"));
    assert!(late_entry.starts_with("unreplied,"), "the unanswered UDP connection: {late_entry}");
    let v6_entry = entry_of(&dump, &tcp_v6_key);
    assert!(v6_entry.starts_with("established,"), "{tcp_v6_key} {v6_entry}");
    assert!(!dump.contains(&format!(":{LAN_TCP_PORT_V6}->")), "a WAN connection to the LAN was recorded:\n{dump}");
    assert!(!dump.contains(&format!(":{LAN_TCP_PORT}->")), "a WAN connection to the LAN was recorded:\n{dump}");

    let reload = galette()
        .args(["reload", "--bpffs", control.bpffs, "--run-dir", control.run_dir])
        .arg(&changed_bundle)
        .output()
        .unwrap();
    let reloaded = String::from_utf8_lossy(&reload.stdout);
    assert!(reload.status.success(), "reload: {reloaded}{}", String::from_utf8_lossy(&reload.stderr));
    eprintln!("conntrack e2e: {}", reloaded.trim());
    let kept: Vec<&str> = reloaded
        .split("kept maps ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no kept maps in {reloaded}"))
        .split(", ")
        .collect();
    assert!(kept.contains(&"connections") && kept.contains(&"conntrack_timeouts"), "{reloaded}");
    assert!(!kept.contains(&"flows"), "the changed map was recreated: {reloaded}");
    let timeouts_now = control.dump_map(&changed_bundle, "conntrack_timeouts");
    let unreplied = format!("6 {}", UNREPLIED_TIMEOUT.as_secs());
    assert!(timeouts_now.lines().any(|line| line.trim() == unreplied), "the loaded timeout was kept: {timeouts_now}");

    // The connection goes on through the new chain, and the table still
    // holds it, with more packets.
    exchange(&mut connection, &mut served, 2);
    let dump = control.dump(&changed_bundle);
    eprintln!("conntrack e2e: connections after the reload:\n{dump}");
    let after = entry_of(&dump, &tcp_key);
    assert!(after.starts_with("established,"), "{tcp_key} {after}");
    assert!(
        packets(&after, "out=") > packets(&before, "out=") && packets(&after, "in=") > packets(&before, "in="),
        "the connection's packets after the reload were counted: {before} then {after}"
    );
    assert!(age(&after) >= age(&before), "the entry was kept, not made anew: {before} then {after}");
    exchange(&mut connection_v6, &mut served_v6, 2);
    drop(connection);
    drop(served);

    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let counters = final_counters(&output);
    eprintln!("{counters:?}");
    let count = |port_name: &str| port(&counters, "replies", port_name);
    assert!(count("reply") > 0, "replies came in: {counters:?}");
    // The scan's 1025 SYNs (one try each), the datagram, the SYN, the late reply.
    assert!(count("new") >= 1025, "unsolicited frames were stopped: {counters:?}");
    assert!(count("related") > 0, "the port unreachable came in: {counters:?}");
    assert!(port(&counters, "track", "tracked") > 0, "{counters:?}");
    for interface in [GatewayTopology::LAN, GatewayTopology::WAN] {
        assert!(!xdp_program_attached(gateway, interface).unwrap(), "{interface} left attached");
    }
    eprintln!("conntrack e2e: done after {:.1?}", started.elapsed());
}

/// Where the running chain keeps its pins and control socket.
struct Control<'a> {
    bpffs: &'a str,
    run_dir: &'a str,
}

impl Control<'_> {
    /// `galette map dump BUNDLE connections`.
    fn dump(&self, bundle: &Path) -> String {
        self.dump_map(bundle, "connections")
    }

    /// `galette map dump BUNDLE MAP`.
    fn dump_map(&self, bundle: &Path, map: &str) -> String {
        let output: Output = galette()
            .args(["map", "dump", "--bpffs", self.bpffs, "--run-dir", self.run_dir])
            .arg(bundle)
            .arg(map)
            .output()
            .unwrap();
        assert!(output.status.success(), "map dump: {}", describe(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// What `f` opens in `namespace` (a socket stays in it).
fn in_ns<T: Send>(namespace: &str, f: impl FnOnce() -> std::io::Result<T> + Send) -> T {
    run_in_netns(namespace, f).unwrap().unwrap_or_else(|err| panic!("in {namespace}: {err}"))
}

/// The link-local IPv6 address of `interface` in `namespace`.
fn link_local(namespace: &str, interface: &str) -> Ipv6Addr {
    let output = Command::new("ip")
        .args(["-n", namespace, "-6", "-o", "addr", "show", "dev", interface, "scope", "link"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .skip_while(|word| *word != "inet6")
        .nth(1)
        .and_then(|address| address.split('/').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no link-local address on {interface} in {namespace}: {text}"))
}

/// The entry of `key` in a dump of `connections`.
fn entry_of(dump: &str, key: &str) -> String {
    dump.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {key} in the connections:\n{dump}"))
        .to_owned()
}

/// The number after `field` (`out=`, `in=`) in an entry.
fn packets(entry: &str, field: &str) -> u64 {
    let text = entry.split(',').find_map(|part| part.strip_prefix(field)).unwrap_or_else(|| panic!("{entry}"));
    text.parse().unwrap_or_else(|_| panic!("{entry}"))
}

/// The `age=` of an entry, in seconds.
fn age(entry: &str) -> f64 {
    let text = entry.split(',').find_map(|part| part.strip_prefix("age=")).unwrap_or_else(|| panic!("{entry}"));
    text.trim_end_matches('s').parse().unwrap_or_else(|_| panic!("{entry}"))
}

/// A line from the LAN end and an answer from the WAN end.
/// A TCP connection from the LAN namespace (to `connect_to`, as the LAN
/// names it) to a listener on `listen_on` in the WAN namespace, with one
/// exchange done: the LAN's end and the WAN's.
fn open_from_lan(
    (lan, connect_to): (&str, SocketAddr),
    (wan, listen_on): (&str, SocketAddr),
) -> (TcpStream, TcpStream) {
    let listener = in_ns(wan, || TcpListener::bind(listen_on));
    let mut connection = run_in_netns(lan, || TcpStream::connect_timeout(&connect_to, Duration::from_secs(5)))
        .unwrap()
        .unwrap_or_else(|err| panic!("the LAN opens a connection to {connect_to}: {err}"));
    let (mut served, _) = listener.accept().unwrap();
    for stream in [&connection, &served] {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    exchange(&mut connection, &mut served, 1);
    (connection, served)
}

fn exchange(lan_end: &mut TcpStream, wan_end: &mut TcpStream, round: u8) {
    let (ping, pong) = ([b'p', b'i', b'n', b'g', b'0' + round], [b'p', b'o', b'n', b'g', b'0' + round]);
    lan_end.write_all(&ping).unwrap();
    let mut got = [0u8; 5];
    wan_end.read_exact(&mut got).unwrap_or_else(|err| panic!("round {round}: the WAN end: {err}"));
    assert_eq!(got, ping);
    wan_end.write_all(&pong).unwrap();
    lan_end.read_exact(&mut got).unwrap_or_else(|err| panic!("round {round}: the LAN end: {err}"));
    assert_eq!(got, pong);
}

/// A receive that must time out.
fn assert_nothing(received: std::io::Result<(usize, SocketAddr)>, what: &str) {
    match received {
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("{what} arrived: {other:?}"),
    }
}

fn assert_no_connection(listener: &TcpListener, after: &str) {
    match listener.accept() {
        Err(err) if err.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the LAN's listener got a connection after {after}: {other:?}"),
    }
}
