//! A two-port gateway, a bump in the wire: `examples/bump_in_the_wire.gal`
//! between a client and a server, each direction redirected out of the other
//! interface in XDP.

use std::time::Duration;

use galette_testbed::frame::{UdpFrame, ethernet_dst, ethernet_src, udp_payload};
use galette_testbed::{GatewayTopology, RawSocket, VethSide, attach_xdp_pass, xdp_program_attached};

use crate::support::{RunningGalette, example_bundle};

const FRAMES: usize = 50;

/// Sends `FRAMES` numbered UDP frames from `from` to `to`; returns how many
/// arrived at `to` exactly as they were sent.
fn send_through(from: &VethSide, to: &VethSide) -> usize {
    let sender = RawSocket::open(from.namespace(), from.interface()).unwrap();
    let receiver = RawSocket::open(to.namespace(), to.interface()).unwrap();
    let mut buffer = vec![0u8; 2048];
    (0..FRAMES)
        .filter(|seq| {
            let frame = UdpFrame {
                src_mac: from.mac(),
                dst_mac: to.mac(),
                src_ip: from.ip(),
                dst_ip: to.ip(),
                src_port: 40_003,
                dst_port: 9,
                payload: format!("through the gateway {seq}").into_bytes(),
            };
            let bytes = frame.to_bytes();
            sender.send(&bytes).unwrap();
            let arrived = receiver.recv_matching(&mut buffer, Duration::from_secs(2), |got| udp_payload(got) == Some(&frame.payload[..])).unwrap();
            arrived.is_some_and(|len| {
                let got = &buffer[..len];
                ethernet_src(got) == Some(from.mac()) && ethernet_dst(got) == Some(to.mac()) && got == &bytes[..]
            })
        })
        .count()
}

#[test]
fn a_bump_in_the_wire_forwards_both_ways_unchanged() {
    let topology = GatewayTopology::create("e2e-bump").unwrap();
    let (client, server, gateway) = (topology.client(), topology.server(), topology.gateway_namespace());
    // Frames redirected into a veth only arrive if its peer runs XDP too.
    let _client_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let _server_program = attach_xdp_pass(server.namespace(), server.interface()).unwrap();
    let roles = [format!("lan={}", GatewayTopology::LAN), format!("wan={}", GatewayTopology::WAN)];
    let extra = ["--iface", roles[0].as_str(), "--iface", roles[1].as_str()];
    let mut running = RunningGalette::start_without_iface(gateway, &example_bundle("bump_in_the_wire"), &extra);
    running.wait_attached(gateway, GatewayTopology::LAN);
    running.wait_attached(gateway, GatewayTopology::WAN);

    let to_server = send_through(client, server);
    let to_client = send_through(server, client);

    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!((to_server, to_client), (FRAMES, FRAMES), "{stdout}");
    let final_line = stdout.lines().find(|line| line.starts_with("final: ")).expect("final counters");
    for direction in ["from_lan", "from_wan"] {
        let count: usize = final_line.split(&format!("{direction}: ")).nth(1).and_then(|rest| rest.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
        assert!(count >= FRAMES, "{direction}: {final_line}");
    }
    for interface in [GatewayTopology::LAN, GatewayTopology::WAN] {
        assert!(!xdp_program_attached(gateway, interface).unwrap(), "{interface} left attached");
    }
}
