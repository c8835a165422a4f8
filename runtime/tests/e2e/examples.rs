//! Every example chain, compiled for real and given to the kernel: the
//! verifier must accept each one, and the chains with maps must work on the
//! wire.

use std::time::Duration;

use aya::Ebpf;
use aya::programs::Xdp;
use galette_bundle::Bundle;
use galette_testbed::{VethPair, attach_xdp_pass, probe_reflector};

use crate::support::{RunningGalette, TestBpffs, bundle_of, example_bundle, example_names, galette};

#[test]
fn the_verifier_accepts_every_example() {
    let names = example_names();
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        assert_verifier_accepts(&example_bundle(&name), &name);
    }
}

/// Every NF of the standard library that can run in XDP, in one chain that
/// pins each with `@xdp` (the build fails with E0502 on a rejection).
#[test]
fn the_verifier_accepts_every_xdp_capable_stdlib_nf() {
    let bundle = bundle_of("tests/verifier/stdlib.gal");
    let manifest = Bundle::open(&bundle).unwrap().manifest;
    let in_xdp: Vec<&str> = manifest
        .instances
        .iter()
        .filter(|i| i.placement == galette_bundle::Placement::Xdp)
        .map(|i| i.source.as_str())
        .collect();
    for nf in ["nop", "counter", "ttl", "acl", "sampler", "classifier", "rate_limit", "compute", "macswap"] {
        assert!(in_xdp.contains(&format!("std.{nf}").as_str()), "std.{nf} is not in XDP: {in_xdp:?}");
    }
    assert_verifier_accepts(&bundle, "stdlib");
}

/// Loads every program of a bundle's XDP object: the entry, one per
/// interface role and one per XDP instance.
fn assert_verifier_accepts(bundle: &std::path::Path, name: &str) {
    let bundle = Bundle::open(bundle).unwrap();
    let xdp = bundle.manifest.xdp.as_ref().unwrap();
    let mut ebpf = Ebpf::load(&bundle.artifact(&xdp.object).unwrap()).unwrap();
    let mut loaded = 0;
    for (program_name, program) in ebpf.programs_mut() {
        let program: &mut Xdp = program.try_into().unwrap();
        if let Err(error) = program.load() {
            panic!("the verifier refused {program_name} of {name}: {error:?}");
        }
        loaded += 1;
    }
    let in_xdp = bundle.manifest.instances.iter().filter(|i| i.placement == galette_bundle::Placement::Xdp).count();
    let roles = bundle.manifest.roles.len();
    assert_eq!(loaded, 1 + roles + in_xdp, "the entry, one per interface role and one per XDP instance");
}

#[test]
fn a_chain_with_a_map_counts_and_reflects() {
    const FRAMES: u32 = 50;
    let pair = VethPair::create("e2e-count").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let mut galette =
        RunningGalette::start(gateway.namespace(), &example_bundle("counted_reflector"), gateway.interface());
    galette.wait_attached(gateway.namespace(), gateway.interface());
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    let output = galette.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report.swapped, FRAMES, "{report:?}");
    let final_line = stdout.lines().find(|line| line.starts_with("final: ")).expect("final counters");
    // Every packet went count -> swap -> tx: both instances saw the same ones.
    let count: u64 = final_line["final: count: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(count >= u64::from(FRAMES), "{final_line}");
    assert!(final_line.contains(&format!("swap: {count} pkts (out {count})")), "{final_line}");
}

/// The allow list starts empty, so nothing comes back; once `galette map`
/// allows the client's prefix, everything does, through the TTL decrement.
#[test]
fn an_acl_filled_at_run_time_lets_traffic_through() {
    const FRAMES: u32 = 20;
    let bpffs = TestBpffs::mount("acl");
    let bundle = example_bundle("filtered_router");
    let pair = VethPair::create("e2e-acl").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let bpffs_arg = bpffs.path.to_str().unwrap();
    let mut running =
        RunningGalette::start_with(gateway.namespace(), &bundle, gateway.interface(), &["--bpffs", bpffs_arg]);
    running.wait_attached(gateway.namespace(), gateway.interface());

    let before = probe_reflector(client, gateway, FRAMES, Duration::from_millis(300)).unwrap();
    let set = galette()
        .args(["map", "set", "--bpffs", bpffs_arg])
        .arg(&bundle)
        .args(["acl_v4", "198.18.0.0/15", "1"])
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let after = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();

    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!((before.swapped, before.lost), (0, FRAMES), "an empty allow list drops: {stdout}");
    assert_eq!(after.swapped, FRAMES, "{after:?}\n{stdout}");
    let final_line = stdout.lines().find(|line| line.starts_with("final: ")).expect("final counters");
    assert!(final_line.contains(&format!("ttl: {FRAMES} pkts (forward {FRAMES}")), "{final_line}");
}
