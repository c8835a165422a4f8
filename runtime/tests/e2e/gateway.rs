//! A two-port gateway, a bump in the wire, between a client and a server:
//! `examples/bump_in_the_wire.gal` redirects each direction out of the other
//! interface in XDP; `tests/userland/userland_gateway.gal` does it in the
//! userland tier, a worker receiving on one interface's socket and sending
//! on the other's.

use std::time::Duration;

use galette_testbed::frame::{ethernet_dst, ethernet_src, udp_payload};
use galette_testbed::{GatewayTopology, RawSocket, VethSide, attach_xdp_pass, xdp_program_attached};

use galette::stats::CountersReport;

use crate::support::{RunningGalette, STATS_JSON, bundle_of, example_bundle, final_counters, flood, instance};

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
