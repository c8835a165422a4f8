//! The userland tier on the wire: frames go up from XDP to AF_XDP workers,
//! through userland NF libraries, and back out.

use std::time::Duration;

use galette_testbed::frame::{UdpFrame, ethernet_dst, udp_payload};
use galette_testbed::{RawSocket, TestBpffs, VethPair, attach_xdp_pass, probe_reflector, xdp_program_attached};

use crate::support::{
    RunningGalette, STATS_JSON, bundle_of, counters_now, example_bundle, final_counters, flood, galette, instance, port,
};

#[test]
fn frames_upcalled_to_a_userland_nf_come_back_swapped() {
    const FRAMES: u32 = 100;
    let pair = VethPair::create("e2e-upcall").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let mut galette = RunningGalette::start_with(
        gateway.namespace(),
        &example_bundle("upcall_reflector"),
        gateway.interface(),
        &[STATS_JSON],
    );
    galette.wait_attached(gateway.namespace(), gateway.interface());
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    let output = galette.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report.swapped, FRAMES, "{report:?}\n{stdout}");
    let counters = final_counters(&output);
    let frames = u64::from(FRAMES);
    assert_eq!(instance(&counters, "swap").received, frames, "the userland instance's counters: {counters:?}");
    assert_eq!(port(&counters, "swap", "out"), frames, "the userland instance's counters: {counters:?}");
    assert!(!xdp_program_attached(gateway.namespace(), gateway.interface()).unwrap());
}

/// The two tiers share a map, two workers share the load, and a userland NF
/// that panics costs only its packet.
#[test]
fn both_tiers_share_a_map_and_a_panicking_nf_is_counted_as_aborted() {
    const FRAMES: u32 = 60;
    const BROADCASTS: usize = 5;
    let bpffs = TestBpffs::mount("two-tier").unwrap();
    let bundle = bundle_of("tests/userland/two_tier.gal");
    let pair = VethPair::create("e2e-2tier").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let bpffs_arg = bpffs.path.to_str().unwrap();
    let metrics = format!("127.0.0.1:{}", 20_000 + std::process::id() % 10_000);
    let extra = ["--workers", "2", "--bpffs", bpffs_arg, "--metrics", metrics.as_str(), STATS_JSON];
    let mut running = RunningGalette::start_with(gateway.namespace(), &bundle, gateway.interface(), &extra);
    running.wait_attached(gateway.namespace(), gateway.interface());

    // Unicast frames: the first byte (the gateway's MAC) is even, so `flaky`
    // sends them on to `swap` and back out.
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    // Broadcast frames start with 0xff, on which `flaky` panics.
    let socket = RawSocket::open(client.namespace(), client.interface()).unwrap();
    for _ in 0..BROADCASTS {
        let frame = UdpFrame {
            src_mac: client.mac(),
            dst_mac: [0xff; 6],
            src_ip: client.ip(),
            dst_ip: gateway.ip(),
            src_port: 40_001,
            dst_port: 9,
            payload: b"galette-broadcast".to_vec(),
        };
        socket.send(&frame.to_bytes()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));

    // Both `tally` (XDP) and `flaky` (userland) count each unicast frame
    // under its first byte, in the one map `seen`.
    let dump = galette().args(["map", "dump", "--bpffs", bpffs_arg]).arg(&bundle).arg("seen").output().unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    // `seen` is a hash<u32, u64>: numbers both.
    let entry = format!("{} {}", gateway.mac()[0], 2 * FRAMES);
    assert!(dump.lines().any(|line| line == entry), "expected {entry} in:\n{dump}");

    // `galette stats`, from another process, sees both tiers' counters.
    let stats = counters_now(&bundle, &bpffs.path);
    let frames = u64::from(FRAMES);
    assert_eq!(instance(&stats, "swap").received, frames, "userland counters: {stats:?}");
    assert_eq!(port(&stats, "swap", "out"), frames, "userland counters: {stats:?}");
    assert_eq!(instance(&stats, "tally").received, frames + BROADCASTS as u64, "XDP counters: {stats:?}");
    // And so does a Prometheus scrape, inside the gateway's namespace.
    let scrape = scrape(gateway.namespace(), &metrics);
    let expected = format!("galette_port_packets_total{{chain=\"two_tier\",instance=\"swap\",port=\"out\"}} {FRAMES}");
    assert!(scrape.contains(&expected), "{scrape}");

    let pinned = bpffs.path.join("galette/two_tier/seen");
    assert!(pinned.exists(), "the map is pinned while the chain runs");
    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report.swapped, FRAMES, "{report:?}\n{stdout}");
    let counters = final_counters(&output);
    assert_eq!(instance(&counters, "flaky").aborted, BROADCASTS as u64, "{counters:?}");
    assert_eq!(instance(&counters, "swap").received, frames, "{counters:?}");
    assert_eq!(port(&counters, "swap", "out"), frames, "{counters:?}");
    assert!(!pinned.exists(), "the pin is removed when the chain stops");
    assert!(!bpffs.path.join("galette").exists(), "and so are the directories galette made for it");
}

/// Far more frames than the UMEM holds go through the userland tier; when
/// it stops, every UMEM frame is accounted for (free, or still with the
/// kernel): none was lost on a full ring.
#[test]
fn no_umem_frame_is_lost_under_a_flood() {
    const FLOOD: usize = 20_000;
    let pair = VethPair::create("e2e-flood").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let mut running = RunningGalette::start_with(
        gateway.namespace(),
        &example_bundle("upcall_reflector"),
        gateway.interface(),
        &["--mode", "poll", STATS_JSON],
    );
    running.wait_attached(gateway.namespace(), gateway.interface());
    flood(client, gateway, FLOOD);
    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let counters = final_counters(&output);
    let swapped = instance(&counters, "swap").received;
    assert!(swapped > 4096, "more frames than the UMEM's 4096 went through userland: {counters:?}");
    assert!(stdout.contains("galette: userland frames accounted for: 4096 of 4096"), "{stdout}");
}

/// A map that only a userland instance binds is created, loaded with
/// `--load`, pinned, and read by that instance.
#[test]
fn a_map_only_userland_binds_is_created_loaded_and_used() {
    const FRAMES: u32 = 20;
    let bpffs = TestBpffs::mount("userland-map").unwrap();
    let bundle = bundle_of("tests/userland/userland_map.gal");
    let work = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(work.path(), "0 1000\n").unwrap();
    let pair = VethPair::create("e2e-umap").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let load = format!("work={}", work.path().display());
    let extra = ["--bpffs", bpffs.path.to_str().unwrap(), "--load", load.as_str(), STATS_JSON];
    let mut running = RunningGalette::start_with(gateway.namespace(), &bundle, gateway.interface(), &extra);
    running.wait_attached(gateway.namespace(), gateway.interface());
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    let dump = galette()
        .args(["map", "dump"])
        .arg(&bundle)
        .arg("work")
        .args(["--bpffs", bpffs.path.to_str().unwrap()])
        .output()
        .unwrap();
    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("galette: loaded 1 entries into `work`"), "{stdout}");
    assert_eq!(report.swapped, FRAMES, "{report:?}\n{stdout}");
    let counters = final_counters(&output);
    // Every frame goes up, the host's own (IPv6 neighbour discovery...) too.
    let heavy = instance(&counters, "heavy").received;
    assert!(heavy >= u64::from(FRAMES), "{counters:?}");
    assert_eq!(port(&counters, "heavy", "out"), heavy, "{counters:?}");
    // `work` is an array<u32, u32>: numbers both.
    assert_eq!(String::from_utf8_lossy(&dump.stdout), "0 1000\n", "{}", String::from_utf8_lossy(&dump.stderr));
}

/// On an interface with several RX queues, frames arrive on all of them,
/// and an upcall must land in a socket bound to the frame's own queue: every
/// flow comes back, whichever queue it took.
#[test]
fn upcalls_work_from_every_rx_queue() {
    const FLOWS: u16 = 64;
    let pair = VethPair::create_with_queues("e2e-mq", 4).unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let mut running = RunningGalette::start_with(
        gateway.namespace(),
        &example_bundle("upcall_reflector"),
        gateway.interface(),
        &["--workers", "2"],
    );
    running.wait_attached(gateway.namespace(), gateway.interface());
    let socket = RawSocket::open(client.namespace(), client.interface()).unwrap();
    let mut buffer = vec![0u8; 2048];
    let mut reflected = 0;
    for flow in 0..FLOWS {
        let frame = client.udp_frame_to(gateway, 41_000 + flow, format!("flow {flow}").into_bytes());
        socket.send(&frame.to_bytes()).unwrap();
        let back = socket
            .recv_matching(&mut buffer, Duration::from_secs(1), |got| {
                udp_payload(got) == Some(&frame.payload[..]) && ethernet_dst(got) == Some(client.mac())
            })
            .unwrap();
        reflected += usize::from(back.is_some());
    }
    let queues_used = rx_queues_with_packets(gateway.namespace(), gateway.interface());
    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("galette: userland: 2 workers (irq), a socket each on veth0 (4 RX queues)"), "{stdout}");
    assert!(queues_used > 1, "the flows should spread over the queues; they used {queues_used}");
    assert_eq!(reflected, usize::from(FLOWS), "{stdout}");
}

/// How many RX queues of a veth saw XDP packets (`ethtool -S`).
fn rx_queues_with_packets(namespace: &str, interface: &str) -> usize {
    let output = std::process::Command::new("ip")
        .args(["netns", "exec", namespace, "ethtool", "-S", interface])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.trim_start().starts_with("rx_queue_") && line.contains("_xdp_packets:"))
        .filter(|line| line.rsplit(':').next().and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > 0))
        .count()
}

/// A Prometheus scrape reads the counters when it comes: right after N
/// frames came back, it counts N, in the XDP instance and in the userland
/// one alike (they were once copied for it every so often, and a scrape
/// then showed an older count).
#[test]
fn a_scrape_right_after_the_traffic_counts_every_frame() {
    const FRAMES: u32 = 20;
    let pair = VethPair::create("e2e-scrape").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let metrics = format!("127.0.0.1:{}", 30_000 + std::process::id() % 10_000);
    let mut running = RunningGalette::start_with(
        gateway.namespace(),
        &example_bundle("upcall_reflector"),
        gateway.interface(),
        &["--metrics", metrics.as_str()],
    );
    running.wait_attached(gateway.namespace(), gateway.interface());
    // Listening before any traffic, so the scrape below comes at once.
    let before = scrape(gateway.namespace(), &metrics);
    assert!(before.starts_with("HTTP/1.1 200 OK"), "{before}");

    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    let after = scrape(gateway.namespace(), &metrics);
    let output = running.stop_with(libc::SIGINT);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report.swapped, FRAMES, "{report:?}");
    for (instance, port) in [("ip", "ipv4"), ("swap", "out")] {
        let sample = format!(
            "galette_port_packets_total{{chain=\"upcall_reflector\",instance=\"{instance}\",port=\"{port}\"}} {FRAMES}\n"
        );
        assert!(after.contains(&sample), "expected {sample:?} in:\n{after}");
    }
}

/// One scrape of the metrics endpoint at `address`, from inside
/// `namespace`; retried for a few seconds while nothing listens yet.
fn scrape(namespace: &str, address: &str) -> String {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    galette_testbed::run_in_netns(namespace, || {
        let mut stream = loop {
            match std::net::TcpStream::connect(address) {
                Ok(stream) => break stream,
                Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Err(error) => panic!("cannot reach the metrics at {address}: {error}"),
            }
        };
        stream.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .unwrap()
}
