//! A two-port gateway, a bump in the wire, between a client and a server:
//! `examples/bump_in_the_wire.gal` redirects each direction out of the other
//! interface in XDP; `tests/userland/userland_gateway.gal` does it in the
//! userland tier, a worker receiving on one interface's socket and sending
//! on the other's; `tests/userland/conntrack_gateway.gal` is a stateful
//! firewall whose two halves, in userland and in XDP, share one table.

use std::time::Duration;

use galette_testbed::frame::{UdpFrame, ethernet_dst, ethernet_src, udp_payload};
use galette_testbed::{GatewayTopology, RawSocket, VethSide, attach_xdp_pass, xdp_program_attached};

use galette::stats::CountersReport;

use crate::support::{RunningGalette, STATS_JSON, bundle_of, example_bundle, final_counters, flood, instance, port};

const FRAMES: usize = 50;

/// Sends `FRAMES` numbered UDP frames from `from` to `to`; returns how many
/// arrived at `to` exactly as they were sent.
fn send_through(from: &VethSide, to: &VethSide) -> usize {
    let sender = RawSocket::open(from.namespace(), from.interface()).unwrap();
    let receiver = RawSocket::open(to.namespace(), to.interface()).unwrap();
    let mut buffer = vec![0u8; 2048];
    (0..FRAMES)
        .filter(|seq| {
            let frame = from.udp_frame_to(to, 40_003, format!("through the gateway {seq}").into_bytes());
            let bytes = frame.to_bytes();
            sender.send(&bytes).unwrap();
            let arrived = receiver
                .recv_matching(&mut buffer, Duration::from_secs(2), |got| udp_payload(got) == Some(&frame.payload[..]))
                .unwrap();
            arrived.is_some_and(|len| {
                let got = &buffer[..len];
                ethernet_src(got) == Some(from.mac()) && ethernet_dst(got) == Some(to.mac()) && got == &bytes[..]
            })
        })
        .count()
}

/// Runs `bundle` as a bump in the wire on a fresh gateway topology, sends
/// `FRAMES` frames each way through it, then `then(client, server)`, stops
/// it and checks it forwarded the frames all unchanged, each direction
/// counted by instance `from_lan` or `from_wan`. Returns galette's standard
/// output and its final counters.
fn forwards_both_ways_unchanged(
    tag: &str,
    bundle: &std::path::Path,
    extra: &[&str],
    then: impl FnOnce(&VethSide, &VethSide),
) -> (String, CountersReport) {
    let topology = GatewayTopology::create(tag).unwrap();
    let (client, server, gateway) = (topology.client(), topology.server(), topology.gateway_namespace());
    // Frames redirected into a veth only arrive if its peer runs XDP too.
    let _client_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let _server_program = attach_xdp_pass(server.namespace(), server.interface()).unwrap();
    let roles = [format!("lan={}", GatewayTopology::LAN), format!("wan={}", GatewayTopology::WAN)];
    let mut arguments = vec!["--iface", roles[0].as_str(), "--iface", roles[1].as_str(), STATS_JSON];
    arguments.extend_from_slice(extra);
    let mut running = RunningGalette::start_without_iface(gateway, bundle, &arguments);
    running.wait_attached(gateway, GatewayTopology::LAN);
    running.wait_attached(gateway, GatewayTopology::WAN);

    let to_server = send_through(client, server);
    let to_client = send_through(server, client);
    then(client, server);

    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!((to_server, to_client), (FRAMES, FRAMES), "{stdout}");
    let counters = final_counters(&output);
    for direction in ["from_lan", "from_wan"] {
        assert!(instance(&counters, direction).received >= FRAMES as u64, "{direction}: {counters:?}");
    }
    for interface in [GatewayTopology::LAN, GatewayTopology::WAN] {
        assert!(!xdp_program_attached(gateway, interface).unwrap(), "{interface} left attached");
    }
    (stdout, counters)
}

#[test]
fn a_bump_in_the_wire_forwards_both_ways_unchanged() {
    forwards_both_ways_unchanged("e2e-bump", &example_bundle("bump_in_the_wire"), &[], |_, _| {});
}

#[test]
fn a_userland_bump_in_the_wire_sends_out_of_the_other_interface() {
    let bundle = bundle_of("tests/userland/userland_gateway.gal");
    // Far more frames than a UMEM holds cross from the LAN's pool to the
    // WAN's.
    let (stdout, counters) =
        forwards_both_ways_unchanged("e2e-ubump", &bundle, &["--workers", "2"], |client, server| {
            flood(client, server, 20_000)
        });
    let crossed = instance(&counters, "from_lan").received;
    assert!(crossed > 4096, "more frames than a UMEM's 4096 crossed: {counters:?}");
    // Two interfaces, so twice the frames; none may be lost.
    let accounting = stdout.lines().find(|line| line.contains("frames accounted for")).expect("the frame accounting");
    assert!(accounting.ends_with("accounted for: 8192 of 8192"), "{accounting}");
}

/// How many of `frames` arrive at `to`, sent from `from` one after the
/// other, each waited for up to `patience`.
fn arrivals(from: &VethSide, to: &VethSide, frames: &[UdpFrame], patience: Duration) -> usize {
    let sender = RawSocket::open(from.namespace(), from.interface()).unwrap();
    let receiver = RawSocket::open(to.namespace(), to.interface()).unwrap();
    let mut buffer = vec![0u8; 2048];
    frames
        .iter()
        .filter(|frame| {
            sender.send(&frame.to_bytes()).unwrap();
            let matching = |got: &[u8]| udp_payload(got) == Some(&frame.payload[..]);
            receiver.recv_matching(&mut buffer, patience, matching).unwrap().is_some()
        })
        .count()
}

#[test]
fn a_connection_table_written_in_userland_lets_replies_in_through_xdp() {
    let bundle = bundle_of("tests/userland/conntrack_gateway.gal");
    let topology = GatewayTopology::create("e2e-uct").unwrap();
    let (client, server, gateway) = (topology.client(), topology.server(), topology.gateway_namespace());
    let _client_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let _server_program = attach_xdp_pass(server.namespace(), server.interface()).unwrap();
    let roles = [format!("lan={}", GatewayTopology::LAN), format!("wan={}", GatewayTopology::WAN)];
    let arguments = ["--iface", roles[0].as_str(), "--iface", roles[1].as_str(), STATS_JSON];
    let mut running = RunningGalette::start_without_iface(gateway, &bundle, &arguments);
    running.wait_attached(gateway, GatewayTopology::LAN);
    running.wait_attached(gateway, GatewayTopology::WAN);

    // Datagrams from the LAN's port 40003 to the WAN's port 9, and what the
    // WAN sends back (from 9 to 40003), numbered.
    let request = |seq: usize| client.udp_frame_to(server, 40_003, format!("request {seq}").into_bytes());
    let reply = |seq: usize| UdpFrame {
        src_mac: server.mac(),
        dst_mac: client.mac(),
        src_ip: server.ip(),
        dst_ip: client.ip(),
        src_port: 9,
        dst_port: 40_003,
        payload: format!("reply {seq}").into_bytes(),
    };
    let unsolicited: Vec<UdpFrame> = (0..5).map(reply).collect();
    let requests: Vec<UdpFrame> = (0..FRAMES).map(request).collect();
    let replies: Vec<UdpFrame> = (100..100 + FRAMES).map(reply).collect();
    let came_in_first = arrivals(server, client, &unsolicited, Duration::from_millis(300));
    let went_out = arrivals(client, server, &requests, Duration::from_secs(2));
    let came_in = arrivals(server, client, &replies, Duration::from_secs(2));

    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!((came_in_first, went_out, came_in), (0, FRAMES, FRAMES), "{stdout}");
    let counters = final_counters(&output);
    assert_eq!(port(&counters, "track", "tracked"), FRAMES as u64, "recorded by the userland worker: {counters:?}");
    assert_eq!(port(&counters, "replies", "reply"), FRAMES as u64, "let in by XDP: {counters:?}");
    assert_eq!(port(&counters, "replies", "new"), 5, "{counters:?}");
    for interface in [GatewayTopology::LAN, GatewayTopology::WAN] {
        assert!(!xdp_program_attached(gateway, interface).unwrap(), "{interface} left attached");
    }
}
