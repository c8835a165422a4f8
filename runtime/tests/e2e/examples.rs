//! Every example chain, compiled for real and given to the kernel: the
//! verifier must accept each one, and the chains with maps must work on the
//! wire.

use std::time::Duration;

use aya::Ebpf;
use aya::programs::Xdp;
use galette_bundle::Bundle;
use galette_testbed::{TestBpffs, VethPair, attach_xdp_pass, probe_reflector};

use crate::support::{
    RunningGalette, STATS_JSON, bundle_of, example_bundle, example_names, final_counters, galette, instance, port,
};

#[test]
fn the_verifier_accepts_every_example() {
    let names = example_names();
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        assert_verifier_accepts(&example_bundle(&name), &name);
    }
}

/// Every NF of the standard library that can run in XDP, in chains that
/// pin each with `@xdp` (the build fails with E0502 on a rejection).
#[test]
fn the_verifier_accepts_every_xdp_capable_stdlib_nf() {
    let chains: [(&str, &[&str]); 2] = [
        ("stdlib", &["nop", "counter", "ttl", "acl", "sampler", "classifier", "rate_limit", "compute", "macswap"]),
        ("conntrack", &["conntrack_out", "conntrack_in"]),
    ];
    for (chain, nfs) in chains {
        let bundle = bundle_of(&format!("tests/verifier/{chain}.gal"));
        let manifest = Bundle::open(&bundle).unwrap().manifest;
        let in_xdp: Vec<&str> = manifest
            .instances
            .iter()
            .filter(|i| i.placement == galette_bundle::Placement::Xdp)
            .map(|i| i.source.as_str())
            .collect();
        for nf in nfs {
            assert!(in_xdp.contains(&format!("std.{nf}").as_str()), "std.{nf} is not in XDP: {in_xdp:?}");
        }
        assert_verifier_accepts(&bundle, chain);
    }
}

/// Loads every program of a bundle's XDP object: the entry, one per
/// interface role and one per segment where the chain was split.
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
    let splits = bundle.manifest.instances.iter().filter(|i| i.program.is_some()).count();
    let roles = bundle.manifest.roles.len();
    assert_eq!(loaded, 1 + roles + splits, "the entry, one per interface role and one per split");
}

#[test]
fn a_chain_with_a_map_counts_and_reflects() {
    const FRAMES: u32 = 50;
    let pair = VethPair::create("e2e-count").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let mut galette = RunningGalette::start_with(
        gateway.namespace(),
        &example_bundle("counted_reflector"),
        gateway.interface(),
        &[STATS_JSON],
    );
    galette.wait_attached(gateway.namespace(), gateway.interface());
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    let output = galette.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report.swapped, FRAMES, "{report:?}");
    let counters = final_counters(&output);
    // Every packet went count -> swap -> tx: both instances saw the same ones.
    let count = instance(&counters, "count").received;
    assert!(count >= u64::from(FRAMES), "{counters:?}");
    assert_eq!(instance(&counters, "swap").received, count, "{counters:?}");
    assert_eq!(port(&counters, "swap", "out"), count, "{counters:?}");
}

/// A chain the verifier made galettec split (tests/verifier/split.gal): the
/// entry program runs `first`, then tail-calls the segment of `second` and
/// `swap`. Every frame crosses the split, and each NF's counters say so.
#[test]
fn a_split_chain_runs_both_segments_and_counts_each_nf() {
    const FRAMES: u32 = 30;
    let bundle = bundle_of("tests/verifier/split.gal");
    let manifest = Bundle::open(&bundle).unwrap().manifest;
    assert_eq!(manifest.instances[1].program.as_deref(), Some("galette_nf_1"), "split before `second`");
    let pair = VethPair::create("e2e-split").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let mut galette = RunningGalette::start_with(gateway.namespace(), &bundle, gateway.interface(), &[STATS_JSON]);
    galette.wait_attached(gateway.namespace(), gateway.interface());
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    let output = galette.stop_with(libc::SIGINT);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report.swapped, FRAMES, "{report:?}");
    let counters = final_counters(&output);
    let first = instance(&counters, "first").received;
    assert!(first >= u64::from(FRAMES), "{counters:?}");
    for name in ["second", "swap"] {
        assert_eq!(instance(&counters, name).received, first, "{name}: {counters:?}");
    }
    assert_eq!(instance(&counters, "first").aborted, 0, "no tail call failed: {counters:?}");
}

/// The allow list starts empty, so nothing comes back; once `galette map`
/// allows the client's prefix, everything does, through the TTL decrement.
#[test]
fn an_acl_filled_at_run_time_lets_traffic_through() {
    const FRAMES: u32 = 20;
    let bpffs = TestBpffs::mount("acl").unwrap();
    let bundle = example_bundle("filtered_router");
    let pair = VethPair::create("e2e-acl").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let bpffs_arg = bpffs.path.to_str().unwrap();
    let mut running = RunningGalette::start_with(
        gateway.namespace(),
        &bundle,
        gateway.interface(),
        &["--bpffs", bpffs_arg, STATS_JSON],
    );
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
    let counters = final_counters(&output);
    assert_eq!(instance(&counters, "ttl").received, u64::from(FRAMES), "{counters:?}");
    assert_eq!(port(&counters, "ttl", "forward"), u64::from(FRAMES), "{counters:?}");
}

/// `galette map` speaks the maps' declared types: prefixes for the ACLs'
/// `Ipv4Prefix` and `Ipv6Prefix` keys, numbers for `u8`, `u32` and `u64`,
/// and what `dump` prints, `load` reads back.
#[test]
fn galette_map_reads_and_writes_keys_and_values_as_their_types() {
    let bpffs = TestBpffs::mount("map-text").unwrap();
    let bundle = example_bundle("filtered_router");
    let pair = VethPair::create("e2e-maptext").unwrap();
    let gateway = pair.a();
    let bpffs_arg = bpffs.path.to_str().unwrap();
    let mut running =
        RunningGalette::start_with(gateway.namespace(), &bundle, gateway.interface(), &["--bpffs", bpffs_arg]);
    running.wait_attached(gateway.namespace(), gateway.interface());
    let map = |arguments: &[&str]| {
        let output = galette()
            .arg("map")
            .arg(arguments[0])
            .args(["--bpffs", bpffs_arg])
            .arg(&bundle)
            .args(&arguments[1..])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };

    let rules = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(rules.path(), "# PREFIX FLAGS\n198.18.0.0/15 1\n198.18.4.0/24 9\n").unwrap();
    let (loaded, stdout, stderr) = map(&["load", "acl_v4", rules.path().to_str().unwrap()]);
    assert!(loaded && stdout.contains("loaded 2 entries into `acl_v4`"), "{stdout}{stderr}");
    let (_, v4, _) = map(&["dump", "acl_v4"]);
    assert_eq!(sorted(&v4), ["198.18.0.0/15 1", "198.18.4.0/24 9"], "{v4}");
    for (prefix, flags) in [("2001:db8::/32", "3"), ("fe80::/10", "1")] {
        let (set, _, stderr) = map(&["set", "acl_v6", prefix, flags]);
        assert!(set, "{stderr}");
    }
    let (_, v6, _) = map(&["dump", "acl_v6"]);
    assert_eq!(sorted(&v6), ["2001:db8::/32 3", "fe80::/10 1"], "{v6}");

    // What dump printed loads back as it is.
    let dumped = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(dumped.path(), &v6).unwrap();
    let (reloaded, stdout, stderr) = map(&["load", "acl_v6", dumped.path().to_str().unwrap()]);
    assert!(reloaded && stdout.contains("loaded 2 entries"), "{stdout}{stderr}");
    assert_eq!(sorted(&map(&["dump", "acl_v6"]).1), sorted(&v6));

    let (set, _, stderr) = map(&["set", "sampling", "0", "6554"]);
    assert!(set, "{stderr}");
    assert_eq!(map(&["dump", "sampling"]).1, "0 6554\n");
    // A per-CPU map: a value per CPU, after a comment that says so.
    let (_, sampled, _) = map(&["dump", "sampled"]);
    let mut lines = sampled.lines();
    assert!(lines.next().is_some_and(|line| line.starts_with("# sampled is per-CPU")), "{sampled}");
    assert!(lines.all(|line| line.split(' ').all(|word| word.parse::<u64>().is_ok())), "{sampled}");
    let (_, listed, _) = map(&["list"]);
    assert!(listed.contains("acl_v4  lpm_trie<Ipv4Prefix, u8>  key 8 B, value 1 B"), "{listed}");

    // Bad text is refused with what is wrong, and nothing is written.
    let (refused, _, stderr) = map(&["set", "acl_v4", "2001:db8::/32", "1"]);
    assert!(!refused && stderr.contains("key \"2001:db8::/32\": not an IPv4 prefix"), "{stderr}");
    let (refused, _, stderr) = map(&["set", "acl_v4", "198.18.0.0/15", "256"]);
    assert!(!refused && stderr.contains("value \"256\": 256 does not fit in a `u8`"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = running.stop_with(libc::SIGINT);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// The fast path's own drops, counted by reason: run by BPF_PROG_TEST_RUN
/// on the object loaded as `galette run` loads it, but with no userland
/// tier and no interfaces, an upcall finds no workers and a redirect no
/// interface. Every frame is in the counters, none silently gone.
#[test]
fn frames_the_fast_path_cannot_deliver_are_counted_by_reason() {
    use aya::programs::{TestRun, TestRunOptions};
    use galette::counters::ChainCounters;

    const FRAMES: u64 = 7;
    let frame = galette_testbed::frame::UdpFrame {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip: std::net::Ipv4Addr::new(198, 18, 0, 1),
        dst_ip: std::net::Ipv4Addr::new(198, 18, 0, 2),
        src_port: 40000,
        dst_port: 9,
        payload: b"galette".to_vec(),
    }
    .to_bytes();
    // An ARP request's Ethernet header and 28 bytes: what a link needs.
    let mut arp = frame[..12].to_vec();
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    let run = |bundle: &std::path::Path, program: &str, frame: &[u8]| {
        let bundle = Bundle::open(bundle).unwrap();
        let (ebpf, _) = galette::loader::load_detached(&bundle).unwrap();
        let mut ebpf = ebpf;
        let xdp: &mut Xdp = ebpf.program_mut(program).unwrap().try_into().unwrap();
        if xdp.fd().is_err() {
            xdp.load().unwrap();
        }
        let xdp: &Xdp = ebpf.program(program).unwrap().try_into().unwrap();
        for _ in 0..FRAMES {
            let result = xdp.test_run(TestRunOptions { data_in: Some(frame), ..TestRunOptions::new() }).unwrap();
            assert_eq!(result.return_value, 1, "{program}: XDP_DROP");
        }
        let stats = ebpf.map(galette_bundle::STATS_MAP).unwrap();
        ChainCounters::new(&bundle.manifest, stats, None).unwrap().reading().unwrap()
    };

    let upcalled = run(&example_bundle("upcall_reflector"), "galette_rx", &frame);
    assert_eq!(upcalled.dropped("no_workers"), FRAMES, "{upcalled:?}");
    assert_eq!(upcalled.instances[0].port("ipv4"), Some(FRAMES), "{upcalled:?}");

    // ARP from the WAN in the security chain: `replies -> { link: lan }`, a
    // redirect to the LAN's role.
    let redirected = run(&example_bundle("security"), "galette_rx_1", &arp);
    assert_eq!(redirected.dropped("no_interface"), FRAMES, "{redirected:?}");
    assert_eq!(redirected.instances.iter().find(|i| i.name == "replies").unwrap().port("link"), Some(FRAMES));
    assert_eq!(redirected.dropped("no_workers"), 0, "{redirected:?}");
}
