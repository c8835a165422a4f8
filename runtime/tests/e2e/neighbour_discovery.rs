//! IPv6 neighbour discovery across the security chain: `examples/security.gal`
//! with the example's own rules must let through what a host sends before it
//! has an address, from the unspecified address `::` (duplicate address
//! detection's neighbour solicitations, RFC 4862 5.4.2, and MLDv2 reports,
//! RFC 3810 5.2.13), and still drop IPv6 from outside the LAN's prefixes.
//!
//! One test sends such frames, built here byte by byte, and looks for them
//! behind the gateway; the other lets the kernels do it: a client takes an
//! address the server already has, and only notices the conflict if its
//! solicitation from `::` crossed the gateway.

use std::net::Ipv6Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use galette_testbed::frame::MacAddr;
use galette_testbed::{GatewayTopology, RawSocket, VethSide, attach_xdp_pass, xdp_program_attached};
use nf_std::checksum;

use crate::support::{RunningGalette, example_bundle, project_root};

const ETHERTYPE_IPV6: u16 = 0x86dd;
const NEXT_HEADER_HOP_BY_HOP: u8 = 0;
const NEXT_HEADER_UDP: u8 = 17;
const NEXT_HEADER_ICMPV6: u8 = 58;
const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;
const ICMPV6_MLDV2_REPORT: u8 = 143;
/// An MLDv2 record type: "change to exclude mode", what a host sends when it
/// joins a group.
const MLD_CHANGE_TO_EXCLUDE: u8 = 4;

/// The address the crafted solicitation asks about; no host here has it,
/// so no kernel sends a frame like it.
const PROBED: Ipv6Addr = Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0xd0d);
/// The address both hosts claim in the duplicate address detection test.
const CLAIMED: Ipv6Addr = Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0x7);
/// Inside the LAN's IPv6 prefix of `examples/security/acl_v6.txt`.
const LAN_HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0x1);
/// Outside every prefix of `acl_v6.txt` (a documentation address).
const OUTSIDER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x1);

/// The security chain running as a bump in the wire with the example's ACL
/// files and thresholds, between a client (LAN) and a server (WAN).
struct SecurityGateway {
    topology: GatewayTopology,
    running: RunningGalette,
}

impl SecurityGateway {
    fn start(tag: &str) -> SecurityGateway {
        let topology = GatewayTopology::create(tag).unwrap();
        let gateway = topology.gateway_namespace();
        let examples = project_root().join("examples/security");
        let loads = ["acl_v4", "acl_v6", "classifier"].map(|file| {
            let map = if file == "classifier" { "classifier_config" } else { file };
            format!("{map}={}", examples.join(format!("{file}.txt")).display())
        });
        let roles = [format!("lan={}", GatewayTopology::LAN), format!("wan={}", GatewayTopology::WAN)];
        let mut arguments = vec!["--iface", &roles[0], "--iface", &roles[1]];
        for load in &loads {
            arguments.extend(["--load", load.as_str()]);
        }
        let mut running = RunningGalette::start_without_iface(gateway, &example_bundle("security"), &arguments);
        running.wait_attached(gateway, GatewayTopology::LAN);
        running.wait_attached(gateway, GatewayTopology::WAN);
        SecurityGateway { topology, running }
    }

    fn client(&self) -> &VethSide {
        self.topology.client()
    }

    fn server(&self) -> &VethSide {
        self.topology.server()
    }

    /// Stops galette and returns its final counters line, after checking it
    /// exited cleanly and detached from both interfaces.
    fn stop(self) -> String {
        let output = self.running.stop_with(libc::SIGINT);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        let gateway = self.topology.gateway_namespace();
        for interface in [GatewayTopology::LAN, GatewayTopology::WAN] {
            assert!(!xdp_program_attached(gateway, interface).unwrap(), "{interface} left attached");
        }
        stdout.lines().find(|line| line.starts_with("final: ")).expect("final counters").to_owned()
    }
}

#[test]
fn the_security_chain_passes_dad_and_mld_from_the_unspecified_address() {
    let gateway = SecurityGateway::start("e2e-nd");
    let (client, server) = (gateway.client(), gateway.server());
    // Frames redirected into a veth only arrive if its peer runs XDP too.
    let _client_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let _server_program = attach_xdp_pass(server.namespace(), server.interface()).unwrap();

    let solicitation = dad_neighbour_solicitation(client.mac(), PROBED);
    let report = mldv2_report(client.mac(), solicited_node(PROBED));
    let from_the_lan = udp6(client.mac(), server.mac(), LAN_HOST, CLAIMED, b"from the LAN");
    let from_outside = udp6(client.mac(), server.mac(), OUTSIDER, CLAIMED, b"from outside");
    let through = |frame: &[u8], wait: Duration| crosses(client, server, frame, wait);

    assert!(through(&solicitation, Duration::from_secs(2)), "a DAD neighbour solicitation from :: was dropped");
    assert!(through(&report, Duration::from_secs(2)), "an MLDv2 report from :: was dropped");
    // The rest of the IPv6 policy holds: the LAN's prefix may send, an
    // address outside every rule may not (default deny).
    assert!(through(&from_the_lan, Duration::from_secs(2)), "a datagram from the LAN's prefix was dropped");
    assert!(!through(&from_outside, Duration::from_millis(800)), "a datagram from outside the LAN got through");

    let counters = gateway.stop();
    let unmatched = counters
        .split("unmatched ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|count| count.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no `unmatched` count in {counters}"));
    assert!(unmatched >= 1, "the outsider's datagram is acl's `unmatched`: {counters}");
}

#[test]
fn duplicate_address_detection_works_across_the_security_chain() {
    let gateway = SecurityGateway::start("e2e-dad");
    let (client, server) = (gateway.client(), gateway.server());
    let _client_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let _server_program = attach_xdp_pass(server.namespace(), server.interface()).unwrap();

    // The server holds the address already (no DAD of its own), so it
    // answers a solicitation for it, which the client only sends from ::.
    ip(server.namespace(), &["-6", "addr", "add", &format!("{CLAIMED}/64"), "dev", server.interface(), "nodad"]);
    ip(client.namespace(), &["-6", "addr", "add", &format!("{CLAIMED}/64"), "dev", client.interface()]);
    // DAD waits up to a second before it solicits and a second for an answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    let state = loop {
        let state = address_state(client, CLAIMED);
        if state.contains("dadfailed") || !state.contains("tentative") || Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        state.contains("dadfailed"),
        "the client took {CLAIMED}, which the server has, without noticing: {state}\n{}",
        gateway.stop()
    );
    gateway.stop();
}

/// Whether `frame`, sent out of `from`, arrives at `to` unchanged within
/// `wait`.
fn crosses(from: &VethSide, to: &VethSide, frame: &[u8], wait: Duration) -> bool {
    let sender = RawSocket::open(from.namespace(), from.interface()).unwrap();
    let receiver = RawSocket::open(to.namespace(), to.interface()).unwrap();
    sender.send(frame).unwrap();
    let mut buffer = vec![0u8; 2048];
    receiver.recv_matching(&mut buffer, wait, |got| got == frame).unwrap().is_some()
}

/// A neighbour solicitation of duplicate address detection for `target`:
/// from ::, to the target's solicited-node group, hop limit 255, and no
/// source link-layer address option (RFC 4861 7.2.2: not from ::).
fn dad_neighbour_solicitation(src_mac: MacAddr, target: Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    let mut message = vec![ICMPV6_NEIGHBOR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
    message.extend_from_slice(&target.octets());
    let message = with_icmpv6_checksum(Ipv6Addr::UNSPECIFIED, group, message);
    ipv6_frame(src_mac, multicast_mac(group), Ipv6Addr::UNSPECIFIED, group, 255, NEXT_HEADER_ICMPV6, &message)
}

/// An MLDv2 report that `group` is joined, as a host sends it before it has
/// a link-local address: from ::, to ff02::16, hop limit 1, behind a
/// hop-by-hop header with the router alert option (RFC 3810 5.2).
fn mldv2_report(src_mac: MacAddr, group: Ipv6Addr) -> Vec<u8> {
    let all_mld_routers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);
    // Type, code, checksum, reserved, one record: its type, no auxiliary
    // data, no sources, the group.
    let mut message = vec![ICMPV6_MLDV2_REPORT, 0, 0, 0, 0, 0, 0, 1, MLD_CHANGE_TO_EXCLUDE, 0, 0, 0];
    message.extend_from_slice(&group.octets());
    let message = with_icmpv6_checksum(Ipv6Addr::UNSPECIFIED, all_mld_routers, message);
    // Next header ICMPv6, length 0 (8 bytes), router alert (type 5, 2 bytes,
    // value 0: MLD), then PadN of no data to fill the 8 bytes.
    let mut payload = vec![NEXT_HEADER_ICMPV6, 0, 5, 2, 0, 0, 1, 0];
    payload.extend_from_slice(&message);
    let dst_mac = multicast_mac(all_mld_routers);
    ipv6_frame(src_mac, dst_mac, Ipv6Addr::UNSPECIFIED, all_mld_routers, 1, NEXT_HEADER_HOP_BY_HOP, &payload)
}

/// A UDP datagram from `src` to `dst`, port 40005 to 9, with `payload`.
fn udp6(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(8 + payload.len()).unwrap();
    let mut datagram = Vec::new();
    for field in [40_005, 9, length, 0] {
        datagram.extend_from_slice(&u16::to_be_bytes(field));
    }
    datagram.extend_from_slice(payload);
    let sum = checksum::l4_checksum_v6(src.octets(), dst.octets(), NEXT_HEADER_UDP, &datagram, 6).unwrap();
    datagram[6..8].copy_from_slice(&checksum::udp_wire(sum).to_be_bytes());
    ipv6_frame(src_mac, dst_mac, src, dst, 64, NEXT_HEADER_UDP, &datagram)
}

/// `message` (an ICMPv6 message with a zero checksum) with its checksum.
fn with_icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, mut message: Vec<u8>) -> Vec<u8> {
    let sum = checksum::l4_checksum_v6(src.octets(), dst.octets(), NEXT_HEADER_ICMPV6, &message, 2).unwrap();
    message[2..4].copy_from_slice(&sum.to_be_bytes());
    message
}

/// An Ethernet II frame holding an IPv6 packet (traffic class and flow
/// label 0) with `payload` after the fixed header.
fn ipv6_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    next_header: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut frame = Vec::with_capacity(54 + payload.len());
    frame.extend_from_slice(&dst_mac);
    frame.extend_from_slice(&src_mac);
    frame.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    frame.extend_from_slice(&[0x60, 0, 0, 0]);
    frame.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&[next_header, hop_limit]);
    frame.extend_from_slice(&src.octets());
    frame.extend_from_slice(&dst.octets());
    frame.extend_from_slice(payload);
    frame
}

/// The solicited-node multicast group of `address`: ff02::1:ff and its last
/// 24 bits (RFC 4291 2.7.1).
fn solicited_node(address: Ipv6Addr) -> Ipv6Addr {
    let mut group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0).octets();
    group[13..].copy_from_slice(&address.octets()[13..]);
    Ipv6Addr::from(group)
}

/// The Ethernet address of an IPv6 multicast group: 33:33 and the group's
/// last 32 bits (RFC 2464 7).
fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let octets = group.octets();
    [0x33, 0x33, octets[12], octets[13], octets[14], octets[15]]
}

/// Runs `ip -n NAMESPACE ARGS...`, which must succeed.
fn ip(namespace: &str, arguments: &[&str]) {
    let output = Command::new("ip").args(["-n", namespace]).args(arguments).output().unwrap();
    assert!(output.status.success(), "ip {arguments:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// What `ip -6 addr` says of `address` on `side`'s interface: the line with
/// the address and the flags after it (`tentative`, `dadfailed`, ...).
fn address_state(side: &VethSide, address: Ipv6Addr) -> String {
    let output = Command::new("ip")
        .args(["-n", side.namespace(), "-6", "-oneline", "addr", "show", "dev", side.interface()])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    let wanted = format!("inet6 {address}/");
    listing
        .lines()
        .find(|line| line.contains(&wanted))
        .map_or_else(|| format!("no {address} in: {listing}"), str::to_owned)
}

#[test]
fn the_crafted_frames_are_what_the_rfcs_describe() {
    // The group and its MAC address, as in RFC 4291's and RFC 2464's examples.
    let group = solicited_node(Ipv6Addr::new(0x4037, 0, 0, 0, 0x1, 0x800, 0x200e, 0x8c6c));
    assert_eq!(group, "ff02::1:ff0e:8c6c".parse::<Ipv6Addr>().unwrap());
    assert_eq!(multicast_mac(group), [0x33, 0x33, 0xff, 0x0e, 0x8c, 0x6c]);
    // Every ICMPv6 message sums to zero with its pseudo-header.
    let solicitation = dad_neighbour_solicitation([2, 0, 0, 0, 0, 1], PROBED);
    let icmp = &solicitation[54..];
    let pseudo = checksum::pseudo_header_sum_v6([0; 16], solicited_node(PROBED).octets(), 58, icmp.len() as u32);
    assert_eq!(checksum::fold(checksum::sum(icmp, pseudo)), 0xffff);
    let report = mldv2_report([2, 0, 0, 0, 0, 1], group);
    assert_eq!((report[20], report[54]), (NEXT_HEADER_HOP_BY_HOP, NEXT_HEADER_ICMPV6), "HBH, then ICMPv6");
    let mld = &report[62..];
    let all_mld_routers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16).octets();
    let pseudo = checksum::pseudo_header_sum_v6([0; 16], all_mld_routers, 58, mld.len() as u32);
    assert_eq!(checksum::fold(checksum::sum(mld, pseudo)), 0xffff);
    assert_eq!(u16::from_be_bytes([report[18], report[19]]) as usize, report.len() - 54, "payload length");
}
