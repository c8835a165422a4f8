//! The userland tier on the wire: frames go up from XDP to AF_XDP workers,
//! through userland NF libraries, and back out.

use std::time::Duration;

use galette_testbed::{VethPair, attach_xdp_pass, probe_reflector, xdp_program_attached};

use crate::support::{RunningGalette, example_bundle};

#[test]
fn frames_upcalled_to_a_userland_nf_come_back_swapped() {
    const FRAMES: u32 = 100;
    let pair = VethPair::create("e2e-upcall").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let mut galette = RunningGalette::start(gateway.namespace(), &example_bundle("upcall_reflector"), gateway.interface());
    galette.wait_attached(gateway.namespace(), gateway.interface());
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    let output = galette.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report.swapped, FRAMES, "{report:?}\n{stdout}");
    let final_line = stdout.lines().find(|line| line.starts_with("final: ")).expect("final counters");
    assert!(final_line.contains(&format!("swap: {FRAMES} pkts (out {FRAMES})")), "the userland instance's counters: {final_line}");
    assert!(!xdp_program_attached(gateway.namespace(), gateway.interface()).unwrap());
}
