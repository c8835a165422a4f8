//! End to end: `examples/macswap.gal`, compiled by galettec, run by `galette`
//! on one end of a veth pair; real frames sent from the other end must come
//! back with their MAC addresses swapped, and nothing may stay attached.

use std::time::Duration;

use crate::support::{RunningGalette, STATS_JSON, example_bundle, final_counters, instance};
use galette_testbed::{VethPair, attach_xdp_pass, probe_reflector, xdp_program_attached};

const FRAMES: u32 = 200;

#[test]
fn every_frame_comes_back_swapped_and_sigint_detaches() {
    let bundle = &example_bundle("macswap");
    let pair = VethPair::create("e2e-swap").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    // XDP_TX frames only reach a veth peer that has an XDP program itself.
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();

    let mut galette = RunningGalette::start_with(gateway.namespace(), bundle, gateway.interface(), &[STATS_JSON]);
    galette.wait_attached(gateway.namespace(), gateway.interface());
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();

    let output = galette.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "galette failed: {}\n{}", stdout, String::from_utf8_lossy(&output.stderr));
    assert_eq!(report.swapped, FRAMES, "{report:?}");
    assert!(!xdp_program_attached(gateway.namespace(), gateway.interface()).unwrap(), "XDP program left attached");

    // The counters saw at least our frames (the kernel adds its own chatter).
    let counters = final_counters(&output);
    let swap = instance(&counters, "swap");
    assert!(swap.received >= u64::from(FRAMES), "{counters:?}");
    assert_eq!(swap.port("out"), Some(swap.received), "every packet left by `out`: {counters:?}");
}

#[test]
fn sigterm_also_detaches_and_exits_zero() {
    let pair = VethPair::create("e2e-term").unwrap();
    let side = pair.a();
    let mut galette = RunningGalette::start(side.namespace(), &example_bundle("macswap"), side.interface());
    galette.wait_attached(side.namespace(), side.interface());
    let output = galette.stop_with(libc::SIGTERM);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!xdp_program_attached(side.namespace(), side.interface()).unwrap());
}

#[test]
fn sigkill_leaves_no_program_attached() {
    let pair = VethPair::create("e2e-kill").unwrap();
    let side = pair.a();
    let mut galette = RunningGalette::start(side.namespace(), &example_bundle("macswap"), side.interface());
    galette.wait_attached(side.namespace(), side.interface());
    let output = galette.stop_with(libc::SIGKILL);
    assert!(!output.status.success());
    // The attachment is a bpf_link owned by the process: the kernel drops it
    // with the process's last file descriptor.
    assert!(!xdp_program_attached(side.namespace(), side.interface()).unwrap(), "XDP program outlived SIGKILL");
}
