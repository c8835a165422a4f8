//! The stateful firewall (`std.conntrack_out` on the LAN side,
//! `std.conntrack_in` on the WAN side, one LRU map between them) as a
//! bump-in-the-wire gateway, against what a user would set up instead: the
//! same two interfaces in a Linux bridge with an nftables ruleset letting
//! in from the WAN only `ct state established,related`, and the bridge
//! without rules for reference. The gateways take turns in one run, with
//! the same endpoints, offloads and iperf3 settings; then the NFs' cost per
//! packet under BPF_PROG_TEST_RUN, against the same chain with `std.nop`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aya::Ebpf;
use aya::programs::{TestRun, TestRunOptions, Xdp};
use galette_bench_report::{Conntrack, ConntrackCost, Gateway, GatewayThroughput, IperfRun};
use galette_bundle::{Bundle, error_chain};
use galette_testbed::{GatewayTopology, attach_xdp_pass, run_in_netns, xdp_program_attached};

use crate::BenchError;
use crate::experiments::chain_cost::{TRIES, interleaved_ns_per_packet, load_all_in_xdp};
use crate::experiments::compile;
use crate::testbed::Testbed;

const XDP_DROP: u32 = 1;
const XDP_TX: u32 = 3;

const CLIENT: Ipv4Addr = GatewayTopology::CLIENT_IP;
const SERVER: Ipv4Addr = GatewayTopology::SERVER_IP;
const IPERF_PORT: u16 = 5201;
/// Where the reachability checks listen (not iperf3's port: a bare connect
/// would hold up the iperf3 server).
const PROBE_PORT: u16 = 5299;
/// The nftables tables the bridge gets, and the mark from the WAN port.
const NFT_TABLES: [(&str, &str); 2] = [("bridge", "galette_bench_wan"), ("inet", "galette_bench")];

/// The gateway chain: `track` records what the LAN opens, `replies` lets in
/// from the WAN only what belongs to it. `out_to` and `in_to` are where
/// each side's packets leave (`wan` and `lan` on the wire; `tx` to measure
/// the NFs under BPF_PROG_TEST_RUN, where no interface is there to redirect
/// to).
fn conntrack_chain(name: &str, out_to: &str, in_to: &str) -> String {
    format!(
        "chain {name}\n\
         iface lan\n\
         iface wan\n\
         map connections: lru_hash<ConnKey, ConnEntry>[65536]\n\
         map conntrack_timeouts: array<u32, u64>[9]\n\
         nf track = std.conntrack_out {{ connections: connections, timeouts: conntrack_timeouts }}\n\
         nf replies = std.conntrack_in {{ connections: connections, timeouts: conntrack_timeouts }}\n\
         rx.lan -> track\n\
         track -> {{ tracked: {out_to}, other: {out_to} }}\n\
         rx.wan -> replies\n\
         replies -> {{ reply: {in_to}, related: {in_to}, new: drop, link: {in_to} }}\n"
    )
}

/// The same shape with `std.nop` for each NF: the floor.
fn nop_chain(name: &str) -> String {
    format!(
        "chain {name}\n\
         iface lan\n\
         iface wan\n\
         nf track = std.nop\n\
         nf replies = std.nop\n\
         rx.lan -> track\n\
         track -> tx\n\
         rx.wan -> replies\n\
         replies -> tx\n"
    )
}

/// The nftables ruleset of the filtering bridge. This kernel may lack
/// `nf_conntrack_bridge` (bridge-family `ct`), so the bridged IPv4 traffic
/// goes through the inet forward hook (br_netfilter), where the input
/// interface is the bridge: the bridge family marks what came in on the
/// WAN port first.
fn nft_ruleset(wan: &str) -> String {
    let [(bridge_family, bridge_table), (inet_family, inet_table)] = NFT_TABLES;
    format!(
        "table {bridge_family} {bridge_table} {{\n\
         \x20 chain prerouting {{\n\
         \x20   type filter hook prerouting priority 0; policy accept;\n\
         \x20   iifname \"{wan}\" meta mark set 0x1\n\
         \x20 }}\n\
         }}\n\
         table {inet_family} {inet_table} {{\n\
         \x20 chain forward {{\n\
         \x20   type filter hook forward priority 0; policy accept;\n\
         \x20   meta mark 0x1 ct state established,related accept\n\
         \x20   meta mark 0x1 drop\n\
         \x20 }}\n\
         }}\n"
    )
}

pub fn run(testbed: &mut Testbed, quick: bool) -> Result<Conntrack, BenchError> {
    let repeat = if quick { 100_000 } else { 1_000_000 };
    let costs = per_packet(testbed, repeat)?;
    let (seconds, rounds) = if quick { (2, 3) } else { (5, 5) };
    let gateways = throughput(testbed, seconds, rounds)?;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let setup = format!(
        "iperf3, one TCP stream from the client (LAN) to the server (WAN), {seconds} s per run, {rounds} rounds in \
         which the gateways take turns ({order}, each round starting with the next); the median of each gateway's runs. In every gateway the same \
         endpoints: TX checksum offload (and with it TSO/GSO) off on the client's and the server's veth, as the XDP \
         path needs, and an XDP_PASS program on both (so that frames redirected by XDP arrive); GRO and the \
         gateway's two veths at their defaults. What differs is the gateway itself: galette-conntrack runs the \
         chain in XDP on the gateway's veths (XDP on a veth also turns on its NAPI); the bridges have no XDP \
         there. nftables-bridge: br_netfilter (bridge-nf-call-iptables=1), a bridge-family prerouting rule marking \
         frames from the WAN port, and an inet forward chain `meta mark 1 ct state established,related accept; \
         meta mark 1 drop` (bridge-family `ct` needs nf_conntrack_bridge, which kernels may lack); \
         linux-bridge: the bridge with bridge-nf-call-iptables=0 and no rules. Client, server and gateway share \
         the machine's {cores} cores, nothing pinned. Unsolicited SYN: a connect from the server to a listener on \
         the client, 1 s, before the runs. BPF_PROG_TEST_RUN: {repeat} repeats per try, {TRIES} tries with the \
         chain and the std.nop chain taking turns, the mean of the middle half.",
        order =
            [Gateway::GaletteConntrack, Gateway::NftablesBridge, Gateway::LinuxBridge].map(|g| g.label()).join(", "),
    );
    Ok(Conntrack { setup, gateways, costs })
}

// Per-packet cost.

/// One loaded two-port chain: the object and the programs where `rx.lan`
/// and `rx.wan` lead.
struct TwoPorts {
    ebpf: Ebpf,
    lan: String,
    wan: String,
}

fn load_two_ports(work_dir: &Path, name: &str, source: &str) -> Result<TwoPorts, BenchError> {
    let bundle = compile(work_dir, name, source)?;
    let bundle = Bundle::open(&bundle).map_err(|err| BenchError::Setup(err.to_string()))?;
    let (mut ebpf, _entry) = load_all_in_xdp(name, &bundle)?;
    let xdp = bundle.manifest.xdp.as_ref().ok_or_else(|| BenchError::Setup(format!("{name}: no XDP part")))?;
    let program_of = |role: &str| {
        xdp.role_entries
            .iter()
            .find(|entry| entry.role == role)
            .map(|entry| entry.program.clone())
            .ok_or_else(|| BenchError::Setup(format!("{name}: no program for rx.{role}")))
    };
    let (lan, wan) = (program_of("lan")?, program_of("wan")?);
    for program in [&lan, &wan] {
        let xdp: &mut Xdp = ebpf
            .program_mut(program)
            .ok_or_else(|| BenchError::Setup(format!("{name}: no program {program}")))?
            .try_into()
            .map_err(|err| BenchError::Setup(error_chain(&err)))?;
        if xdp.fd().is_err() {
            xdp.load().map_err(|err| BenchError::Setup(format!("{name}: {program}: {}", error_chain(&err))))?;
        }
    }
    Ok(TwoPorts { ebpf, lan, wan })
}

/// Runs `program` of `ebpf` once on `frame` and checks its verdict.
fn run_once(ebpf: &Ebpf, program: &str, frame: &[u8], expected: u32, what: &str) -> Result<(), BenchError> {
    let xdp: &Xdp = ebpf
        .program(program)
        .ok_or_else(|| BenchError::Setup(format!("no program {program}")))?
        .try_into()
        .map_err(|err| BenchError::Setup(error_chain(&err)))?;
    let result = xdp
        .test_run(TestRunOptions { data_in: Some(frame), ..TestRunOptions::new() })
        .map_err(|err| BenchError::Run(format!("BPF_PROG_TEST_RUN failed: {}", error_chain(&err))))?;
    if result.return_value == expected {
        Ok(())
    } else {
        Err(BenchError::Run(format!("{what}: verdict {} instead of {expected}", result.return_value)))
    }
}

fn per_packet(testbed: &mut Testbed, repeat: u32) -> Result<Vec<ConntrackCost>, BenchError> {
    testbed.check_stop()?;
    let work_dir = testbed.work_dir.clone();
    let conntrack = load_two_ports(&work_dir, "conntrack_cost", &conntrack_chain("conntrack_cost", "tx", "tx"))?;
    let nop = load_two_ports(&work_dir, "conntrack_nop", &nop_chain("conntrack_nop"))?;

    // A connection the LAN opens, through the chain's own programs: SYN
    // out, SYN-ACK in, ACK out: established.
    let (client_port, server_port) = (40_000, 443);
    let out_syn = tcp_frame(CLIENT, SERVER, client_port, server_port, TCP_SYN);
    let in_syn_ack = tcp_frame(SERVER, CLIENT, server_port, client_port, TCP_SYN | TCP_ACK);
    let out_ack = tcp_frame(CLIENT, SERVER, client_port, server_port, TCP_ACK);
    let in_ack = tcp_frame(SERVER, CLIENT, server_port, client_port, TCP_ACK);
    // A SYN from the WAN to a port of the client nothing opened.
    let in_unsolicited = tcp_frame(SERVER, CLIENT, server_port, client_port + 1, TCP_SYN);
    run_once(&conntrack.ebpf, &conntrack.lan, &out_syn, XDP_TX, "conntrack_out on the LAN's SYN")?;
    run_once(&conntrack.ebpf, &conntrack.wan, &in_syn_ack, XDP_TX, "conntrack_in on the SYN-ACK")?;
    run_once(&conntrack.ebpf, &conntrack.lan, &out_ack, XDP_TX, "conntrack_out on the ACK")?;
    run_once(&conntrack.ebpf, &conntrack.wan, &in_ack, XDP_TX, "conntrack_in on a reply (hit)")?;
    run_once(&conntrack.ebpf, &conntrack.wan, &in_unsolicited, XDP_DROP, "conntrack_in on an unsolicited SYN (miss)")?;
    for (program, frame) in [(&nop.lan, &out_ack), (&nop.wan, &in_ack), (&nop.wan, &in_unsolicited)] {
        run_once(&nop.ebpf, program, frame, XDP_TX, "the std.nop chain")?;
    }

    let cases: [(&str, &TwoPorts, &str, &[u8]); 3] = [
        ("conntrack_in, hit: an ACK from the WAN of an established connection", &conntrack, "wan", &in_ack),
        ("conntrack_in, miss: an unsolicited SYN from the WAN (to drop)", &conntrack, "wan", &in_unsolicited),
        ("conntrack_out, refresh: an ACK from the LAN of an established connection", &conntrack, "lan", &out_ack),
    ];
    let mut costs = Vec::new();
    for (case, chain, side, frame) in cases {
        testbed.check_stop()?;
        let (program, floor) = if side == "lan" { (&chain.lan, &nop.lan) } else { (&chain.wan, &nop.wan) };
        let medians = interleaved_ns_per_packet(&[(&chain.ebpf, program), (&nop.ebpf, floor)], frame, repeat)?;
        let (ns, nop_ns) = (medians[0], medians[1]);
        println!("  {case}: {ns:.1} ns/pkt (std.nop chain {nop_ns:.1})");
        costs.push(ConntrackCost { case: case.to_owned(), ns, nop_ns });
    }
    // The connection is still there after the measured repeats: the hit
    // stayed a hit.
    run_once(&conntrack.ebpf, &conntrack.wan, &in_ack, XDP_TX, "conntrack_in on a reply after the runs")?;
    Ok(costs)
}

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// An Ethernet, IPv4 and TCP frame without payload (MACs are not looked
/// at by the chain: locally administered ones).
fn tcp_frame(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16, flags: u8) -> Vec<u8> {
    let mut frame = Vec::with_capacity(54);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let checksum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    frame.extend_from_slice(&ip);
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&src_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&dst_port.to_be_bytes());
    tcp[4..8].copy_from_slice(&1u32.to_be_bytes());
    tcp[8..12].copy_from_slice(&u32::from(flags & TCP_ACK != 0).to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65_535u16.to_be_bytes());
    frame.extend_from_slice(&tcp);
    frame
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

// Throughput.

fn throughput(testbed: &mut Testbed, seconds: u32, rounds: usize) -> Result<Vec<GatewayThroughput>, BenchError> {
    testbed.check_stop()?;
    let setup = |what: &str, err: std::io::Error| BenchError::Setup(format!("{what}: {err}"));
    // Dropped last: deleting the namespaces takes the bridge, the nftables
    // tables and the XDP programs in them along.
    let topology = GatewayTopology::create("bench").map_err(|err| setup("cannot create the gateway topology", err))?;
    let (client, server, gateway_ns) = (topology.client(), topology.server(), topology.gateway_namespace());
    let _client_pass =
        attach_xdp_pass(client.namespace(), client.interface()).map_err(|err| setup("XDP_PASS on the client", err))?;
    let _server_pass =
        attach_xdp_pass(server.namespace(), server.interface()).map_err(|err| setup("XDP_PASS on the server", err))?;
    topology.disable_tx_offload().map_err(|err| setup("cannot turn TX offload off", err))?;

    let bundle = compile(&testbed.work_dir, "conntrack_gateway", &conntrack_chain("conntrack_gateway", "wan", "lan"))?;
    let ruleset = testbed.work_dir.join("conntrack_nftables.nft");
    std::fs::write(&ruleset, nft_ruleset(GatewayTopology::WAN))
        .map_err(|err| setup(&format!("cannot write {}", ruleset.display()), err))?;
    let context = Context {
        gateway_ns: gateway_ns.to_owned(),
        client_ns: client.namespace().to_owned(),
        server_ns: server.namespace().to_owned(),
        galette: testbed.galette.clone(),
        run_dir: testbed.control_dir.path().to_owned(),
        bundle,
        ruleset,
        log: testbed.work_dir.join("conntrack_galette.log"),
    };
    let _iperf = Background::start(
        &context.server_ns,
        "iperf3",
        &["--server", "--bind", &SERVER.to_string(), "--port", &IPERF_PORT.to_string()],
    )?;
    // Listeners for the reachability checks: one on each side.
    let on_client = listen(&context.client_ns, CLIENT)?;
    let on_server = listen(&context.server_ns, SERVER)?;
    wait_listening(&context.server_ns, SocketAddrV4::new(SERVER, IPERF_PORT))?;

    let gateways = [Gateway::GaletteConntrack, Gateway::NftablesBridge, Gateway::LinuxBridge];
    let mut results: Vec<GatewayThroughput> = gateways
        .iter()
        .map(|&gateway| GatewayThroughput {
            gateway,
            runs: Vec::new(),
            median_mbps: f64::NAN,
            unsolicited_syn_dropped: None,
        })
        .collect();
    for result in &mut results {
        testbed.check_stop()?;
        let _running = context.start(result.gateway)?;
        if !connects(&context.client_ns, SocketAddrV4::new(SERVER, PROBE_PORT))? {
            return Err(BenchError::Run(format!(
                "{}: the client cannot connect to the server through it",
                result.gateway.label()
            )));
        }
        let dropped = !connects(&context.server_ns, SocketAddrV4::new(CLIENT, PROBE_PORT))?;
        println!(
            "  {}: an unsolicited SYN from the WAN {}",
            result.gateway.label(),
            if dropped { "is dropped" } else { "gets through" }
        );
        result.unsolicited_syn_dropped = Some(dropped);
    }
    // Each round starts with the next gateway, so that none always runs
    // first (or right after the same one).
    let turns = results.len();
    for round in 0..rounds {
        for turn in 0..turns {
            let result = &mut results[(round + turn) % turns];
            testbed.check_stop()?;
            let running = context.start(result.gateway)?;
            let run = iperf(&context.client_ns, seconds).map_err(|why| {
                BenchError::Run(format!("{}, round {}: {why}{}", result.gateway.label(), round + 1, running.log_tail()))
            })?;
            println!(
                "  round {}: {:<17} {:>7.0} Mbit/s ({} retransmits)",
                round + 1,
                result.gateway.label(),
                run.mbps,
                run.retransmits
            );
            result.runs.push(run);
        }
    }
    for result in &mut results {
        result.median_mbps = median(result.runs.iter().map(|run| run.mbps).collect());
    }
    drop((on_client, on_server));
    Ok(results)
}

/// What starting each gateway needs.
struct Context {
    gateway_ns: String,
    client_ns: String,
    server_ns: String,
    galette: PathBuf,
    run_dir: PathBuf,
    bundle: PathBuf,
    ruleset: PathBuf,
    log: PathBuf,
}

impl Context {
    fn start(&self, gateway: Gateway) -> Result<Running<'_>, BenchError> {
        match gateway {
            Gateway::GaletteConntrack => self.start_galette(),
            Gateway::NftablesBridge => self.start_bridge(true),
            Gateway::LinuxBridge => self.start_bridge(false),
        }
    }

    fn start_galette(&self) -> Result<Running<'_>, BenchError> {
        let log = std::fs::File::create(&self.log)
            .map_err(|err| BenchError::Setup(format!("cannot create {}: {err}", self.log.display())))?;
        let stdout = log.try_clone().map_err(|err| BenchError::Setup(format!("cannot share the log: {err}")))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.gateway_ns])
            .arg(&self.galette)
            .arg("run")
            .arg(&self.bundle)
            .args(["--iface", &format!("lan={}", GatewayTopology::LAN)])
            .args(["--iface", &format!("wan={}", GatewayTopology::WAN)])
            .arg("--run-dir")
            .arg(&self.run_dir)
            .args(["--stats-interval", "100000"])
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .map_err(|err| BenchError::Setup(format!("cannot start {}: {err}", self.galette.display())))?;
        let mut running = Running { context: self, galette: Some(child), bridge: false };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let attached = [GatewayTopology::LAN, GatewayTopology::WAN]
                .iter()
                .all(|interface| xdp_program_attached(&self.gateway_ns, interface).unwrap_or(false));
            if attached {
                std::thread::sleep(Duration::from_millis(200));
                return Ok(running);
            }
            if let Some(status) = running.galette.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                running.galette = None;
                return Err(BenchError::Setup(format!(
                    "galette exited ({status}) before attaching{}",
                    running.log_tail()
                )));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Setup(format!("galette did not attach within 60 s{}", running.log_tail())));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The gateway's two veths in a bridge; with the nftables ruleset, or
    /// with bridged traffic kept away from netfilter.
    fn start_bridge(&self, nftables: bool) -> Result<Running<'_>, BenchError> {
        let ns = self.gateway_ns.as_str();
        // From here on, dropping it removes what was made.
        let running = Running { context: self, galette: None, bridge: true };
        run_checked("ip", &["-n", ns, "link", "add", BRIDGE, "type", "bridge"])?;
        for port in [GatewayTopology::LAN, GatewayTopology::WAN] {
            run_checked("ip", &["-n", ns, "link", "set", port, "master", BRIDGE])?;
        }
        run_checked("ip", &["-n", ns, "link", "set", BRIDGE, "up"])?;
        let call =
            if nftables { "net.bridge.bridge-nf-call-iptables=1" } else { "net.bridge.bridge-nf-call-iptables=0" };
        run_checked("ip", &["netns", "exec", ns, "sysctl", "-q", "-w", call])?;
        if nftables {
            let ruleset = self.ruleset.to_string_lossy();
            run_checked("ip", &["netns", "exec", ns, "nft", "-f", &ruleset])?;
        }
        // The bridge forwards once its ports are past the learning state
        // (no STP: at once), and has learnt nothing: the first frames
        // flood, as they would for any new bridge.
        std::thread::sleep(Duration::from_millis(200));
        Ok(running)
    }
}

const BRIDGE: &str = "br-bench";

/// A started gateway, removed on drop: galette stopped (SIGINT: it
/// detaches), or the bridge and the nftables tables deleted.
struct Running<'a> {
    context: &'a Context,
    galette: Option<Child>,
    bridge: bool,
}

impl Running<'_> {
    fn log_tail(&self) -> String {
        if !self.bridge {
            let log = std::fs::read_to_string(&self.context.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            if !tail.is_empty() {
                return format!("; galette's log ends:\n{tail}");
            }
        }
        String::new()
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(mut child) = self.galette.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Wait until both links are gone, so the next gateway finds the
            // veths as they were.
            let deadline = Instant::now() + Duration::from_secs(5);
            while [GatewayTopology::LAN, GatewayTopology::WAN]
                .iter()
                .any(|interface| xdp_program_attached(&self.context.gateway_ns, interface).unwrap_or(false))
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if self.bridge {
            let ns = self.context.gateway_ns.as_str();
            for (family, table) in NFT_TABLES {
                // Absent unless this was the nftables bridge.
                let _ = quiet("ip", &["netns", "exec", ns, "nft", "delete", "table", family, table]);
            }
            let _ = quiet("ip", &["netns", "exec", ns, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0"]);
            let _ = quiet("ip", &["-n", ns, "link", "del", BRIDGE]);
        }
    }
}

/// One bounded iperf3 run from the client: what the server received.
fn iperf(client_ns: &str, seconds: u32) -> Result<IperfRun, String> {
    let kill_after = (seconds + 20).to_string();
    let output = Command::new("ip")
        .args(["netns", "exec", client_ns, "timeout", "--signal=KILL", &kill_after, "iperf3"])
        .args(["--client", &SERVER.to_string(), "--port", &IPERF_PORT.to_string()])
        .args(["--time", &seconds.to_string(), "--connect-timeout", "5000", "--json"])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run iperf3: {err}"))?;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|_| describe("iperf3", &output))?;
    if let Some(error) = report.get("error").and_then(|error| error.as_str()) {
        return Err(format!("iperf3: {error} ({})", output.status));
    }
    let end = &report["end"];
    let mbps = end["sum_received"]["bits_per_second"].as_f64().ok_or_else(|| describe("iperf3", &output))? / 1e6;
    let retransmits = end["sum_sent"]["retransmits"].as_u64().unwrap_or(0);
    if !output.status.success() {
        return Err(describe("iperf3", &output));
    }
    Ok(IperfRun { mbps, retransmits })
}

fn describe(program: &str, output: &Output) -> String {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).chars().take(600).collect::<String>();
    format!("{program} failed ({}): {} {}", output.status, text(&output.stderr).trim(), text(&output.stdout).trim())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|value| value.is_finite());
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A listener on `ip`:[`PROBE_PORT`] in `namespace`; the kernel completes
/// connections to it without an accept.
fn listen(namespace: &str, ip: Ipv4Addr) -> Result<TcpListener, BenchError> {
    run_in_netns(namespace, || TcpListener::bind(SocketAddrV4::new(ip, PROBE_PORT)))
        .and_then(|listener| listener)
        .map_err(|err| BenchError::Setup(format!("cannot listen in {namespace}: {err}")))
}

/// Whether a TCP connection from `namespace` to `address` opens within 1 s.
fn connects(namespace: &str, address: SocketAddrV4) -> Result<bool, BenchError> {
    run_in_netns(namespace, || TcpStream::connect_timeout(&SocketAddr::V4(address), Duration::from_secs(1)).is_ok())
        .map_err(|err| BenchError::Run(format!("cannot enter {namespace}: {err}")))
}

fn wait_listening(namespace: &str, address: SocketAddrV4) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !connects(namespace, address)? {
        if Instant::now() > deadline {
            return Err(BenchError::Setup(format!("nothing listens on {address} in {namespace}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn run_checked(program: &str, args: &[&str]) -> Result<(), BenchError> {
    let output = quiet(program, args)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BenchError::Setup(format!("{program} {}: {}", args.join(" "), describe(program, &output))))
    }
}

fn quiet(program: &str, args: &[&str]) -> Result<Output, BenchError> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| BenchError::Setup(format!("cannot run {program}: {err}")))
}

/// A server process in a namespace, killed when dropped.
struct Background {
    child: Child,
}

impl Background {
    fn start(namespace: &str, program: &str, args: &[&str]) -> Result<Background, BenchError> {
        let child = Command::new("ip")
            .args(["netns", "exec", namespace, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| BenchError::Setup(format!("cannot start {program}: {err}")))?;
        Ok(Background { child })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_chain_is_the_bump_in_the_wire() {
        let chain = conntrack_chain("g", "wan", "lan");
        assert!(chain.contains("rx.lan -> track\ntrack -> { tracked: wan, other: wan }\n"));
        assert!(chain.contains("replies -> { reply: lan, related: lan, new: drop, link: lan }"));
    }

    #[test]
    fn the_ruleset_drops_from_the_wan_port_what_is_not_established() {
        let ruleset = nft_ruleset("wan0");
        assert!(ruleset.contains("iifname \"wan0\" meta mark set 0x1"));
        assert!(ruleset.contains("meta mark 0x1 ct state established,related accept\n    meta mark 0x1 drop"));
    }

    #[test]
    fn frames_have_a_valid_ip_checksum() {
        let frame = tcp_frame(CLIENT, SERVER, 1, 2, TCP_SYN);
        assert_eq!(frame.len(), 54);
        assert_eq!(ipv4_checksum(&frame[14..34]), 0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
