//! Live reload under traffic: `galette reload` replaces the running chain
//! while a steady stream of sequence-numbered frames goes through it. No
//! frame may be lost, each must show the marks of exactly one chain, the ACL
//! filled before the reloads must still hold its entries, and refused
//! reloads must leave the traffic flowing.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use galette_testbed::{
    SequencedStream, StreamPlan, StreamReport, TestBpffs, VethPair, VethSide, XdpPassProgram, attach_xdp_pass,
    probe_reflector,
};
use galettec::{CompileOptions, compile_chain};

use crate::support::{RunningGalette, bundle_of, galette, project_root};

/// The longest a stream runs: tests end it once their reloads are done.
const STREAM_LIMIT: Duration = Duration::from_secs(120);

/// Lets the stream run a little longer than the last reload, checks that it
/// was running all along, and ends it.
fn end_stream(stream: SequencedStream) -> StreamReport {
    std::thread::sleep(Duration::from_millis(200));
    assert!(stream.is_sending(), "the stream ended before the reloads did");
    stream.stop_and_finish().unwrap()
}

/// The TTL every frame is sent with, and what each test chain leaves.
const SENT_TTL: u8 = 64;
const ONCE: u8 = SENT_TTL - 1;
const TWICE: u8 = SENT_TTL - 2;

/// A running `marks` chain on one end of a veth pair, with its own bpffs
/// and control directory, and its allow list filled.
struct MarksChain {
    pair: VethPair,
    bpffs: TestBpffs,
    run_dir: tempfile::TempDir,
    galette: Option<RunningGalette>,
    /// XDP_TX frames only reach a veth peer that has an XDP program itself.
    _peer_program: XdpPassProgram,
}

impl MarksChain {
    fn start(tag: &str, first: &Path) -> MarksChain {
        let pair = VethPair::create(&format!("e2e-rl{tag}")).unwrap();
        let bpffs = TestBpffs::mount(&format!("reload-{tag}")).unwrap();
        let run_dir = tempfile::tempdir().unwrap();
        let peer_program = attach_xdp_pass(pair.b().namespace(), pair.b().interface()).unwrap();
        let mut chain = MarksChain { pair, bpffs, run_dir, galette: None, _peer_program: peer_program };
        let arguments = ["--bpffs", chain.bpffs_arg(), "--run-dir", chain.run_dir_arg()];
        let gateway = chain.gateway();
        let mut running = RunningGalette::start_with(gateway.namespace(), first, gateway.interface(), &arguments);
        running.wait_attached(gateway.namespace(), gateway.interface());
        chain.galette = Some(running);
        let loaded = chain.galette_command(&["map", "load"], &[first, Path::new("acl_v4"), &chain.rules()]);
        assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
        chain
    }

    fn gateway(&self) -> &VethSide {
        self.pair.a()
    }

    fn client(&self) -> &VethSide {
        self.pair.b()
    }

    fn bpffs_arg(&self) -> &str {
        self.bpffs.path.to_str().unwrap()
    }

    fn run_dir_arg(&self) -> &str {
        self.run_dir.path().to_str().unwrap()
    }

    /// The allow list: the test network's prefix.
    fn rules(&self) -> PathBuf {
        let path = self.run_dir.path().join("acl_v4.txt");
        std::fs::write(&path, "198.18.0.0/15 1\n").unwrap();
        path
    }

    /// `galette SUBCOMMAND --bpffs B --run-dir R ARGS...`.
    fn galette_command(&self, subcommand: &[&str], arguments: &[&Path]) -> Output {
        galette()
            .args(subcommand)
            .args(["--bpffs", self.bpffs_arg(), "--run-dir", self.run_dir_arg()])
            .args(arguments)
            .output()
            .unwrap()
    }

    /// `galette reload BUNDLE` of this chain (named: a bundle of another
    /// chain must reach the runtime, which refuses it).
    fn reload(&self, bundle: &Path) -> Output {
        self.galette_command(&["reload", "--chain", "marks"], &[bundle])
    }

    /// Stops the chain and returns what it printed.
    fn stop(mut self) -> String {
        let output = self.galette.take().unwrap().stop_with(libc::SIGINT);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout
    }
}

fn marks_once() -> PathBuf {
    bundle_of("tests/reload/marks_once.gal")
}

fn marks_twice() -> PathBuf {
    bundle_of("tests/reload/marks_twice.gal")
}

/// One TTL decrement in XDP and one in userland: 62.
fn two_tier() -> PathBuf {
    bundle_of("tests/reload/two_tier.gal")
}

/// Two in XDP and two in userland: 60 (61 would be one tier of each).
fn two_tier_twice() -> PathBuf {
    bundle_of("tests/reload/two_tier_twice.gal")
}

/// `(accounted, total)` from galette's last line about its UMEM frames.
fn frame_accounting(log: &str) -> (u64, u64) {
    let line = log.lines().rev().find(|line| line.contains("frames accounted for:")).unwrap_or_else(|| panic!("{log}"));
    let numbers: Vec<u64> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    (numbers[numbers.len() - 2], numbers[numbers.len() - 1])
}

/// A bundle of `relative_path` built without asking this kernel's verifier:
/// one the runtime's own load must refuse.
fn unverified_bundle(relative_path: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("unverified.bundle");
    let options = CompileOptions { verify: false, ..CompileOptions::from_env() };
    compile_chain(&project_root().join(relative_path), &bundle, &options).unwrap();
    (dir, bundle)
}

fn assert_every_frame_once(report: &StreamReport, marks: &[u8]) {
    let (lost, duplicated) = (report.lost(), report.duplicated());
    assert!(
        lost.is_empty(),
        "{} of {} frames lost, the first {:?}",
        lost.len(),
        report.sent,
        &lost[..lost.len().min(10)]
    );
    assert!(
        duplicated.is_empty(),
        "{} frames came back twice: {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(10)]
    );
    let histogram = report.ttl_histogram();
    assert!(histogram.iter().all(|(ttl, _)| marks.contains(ttl)), "marks other than {marks:?}: {histogram:?}");
}

#[test]
fn fifty_reloads_under_traffic_lose_no_frame_and_mix_no_chains() {
    let chain = MarksChain::start("mix", &marks_once());
    // 20 000 frames a second for 10 s; a reload every 200 ms.
    let stream =
        SequencedStream::start(chain.client(), chain.gateway(), StreamPlan::at_rate(20_000, STREAM_LIMIT)).unwrap();
    let mut reports = Vec::new();
    for round in 0..50 {
        std::thread::sleep(Duration::from_millis(50));
        let bundle = if round % 2 == 0 { marks_twice() } else { marks_once() };
        let output = chain.reload(&bundle);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "reload {round}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        reports.push(stdout);
    }
    let report = end_stream(stream);
    let dump = chain.galette_command(&["map", "dump"], &[&marks_once(), Path::new("acl_v4")]);
    let log = chain.stop();

    // A frame that ran a stage of each chain would show 61 or 64.
    assert_every_frame_once(&report, &[ONCE, TWICE]);
    let histogram = report.ttl_histogram();
    assert_eq!(histogram.len(), 2, "frames ran in both chains: {histogram:?}");
    assert!(reports.iter().all(|r| r.contains("acl_v4") && r.contains("acl_v6")), "the ACLs were kept: {reports:?}");
    assert_eq!(String::from_utf8_lossy(&dump.stdout).trim(), "198.18.0.0/15 1", "the ACL still holds its entry");
    assert_eq!(log.matches("galette: reloaded").count(), 50, "{log}");
}

#[test]
fn refused_reloads_keep_the_running_chain_and_its_traffic() {
    refused_reloads_keep("refuse", &marks_once(), ONCE);
}

#[test]
fn refused_reloads_keep_a_two_tier_chain_and_its_traffic() {
    refused_reloads_keep("refuse2", &two_tier(), TWICE);
}

/// Starts `first`, which marks frames with `mark`, and asks for reloads the
/// runtime must refuse, under traffic.
fn refused_reloads_keep(tag: &str, first: &Path, mark: u8) {
    let chain = MarksChain::start(tag, first);
    let stream =
        SequencedStream::start(chain.client(), chain.gateway(), StreamPlan::at_rate(5_000, STREAM_LIMIT)).unwrap();
    let (_rejected_dir, rejected) = unverified_bundle("tests/reload/verifier_rejects.gal");
    let tampered_dir = tempfile::tempdir().unwrap();
    let tampered = tampered_dir.path().join("tampered.bundle");
    copy_dir(&marks_twice(), &tampered);
    let object = tampered.join("xdp/chain.o");
    let mut bytes = std::fs::read(&object).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&object, bytes).unwrap();

    let refusals = [
        (rejected.as_path(), "could not be loaded"),
        (tampered.as_path(), "sha256"),
        (&bundle_of("tests/reload/other_roles.gal"), "interface roles"),
        (&bundle_of("tests/reload/other_chain.gal"), "is the chain `not_marks`"),
    ];
    for (bundle, why) in refusals {
        std::thread::sleep(Duration::from_millis(300));
        let output = chain.reload(bundle);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{}: {stderr}", bundle.display());
        assert!(stderr.contains(why), "{}: expected {why:?} in {stderr}", bundle.display());
    }
    let report = end_stream(stream);
    chain.stop();
    // Every frame ran in the chain that was running all along.
    assert_every_frame_once(&report, &[mark]);
}

#[test]
fn a_hundred_reloads_of_a_two_tier_chain_lose_no_frame_and_keep_every_umem_frame() {
    let chain = MarksChain::start("tier", &two_tier());
    let stream =
        SequencedStream::start(chain.client(), chain.gateway(), StreamPlan::at_rate(20_000, STREAM_LIMIT)).unwrap();
    for round in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        let bundle = if round % 2 == 0 { two_tier_twice() } else { two_tier() };
        let output = chain.reload(&bundle);
        assert!(output.status.success(), "reload {round}: {}", String::from_utf8_lossy(&output.stderr));
        // `late` and `swap` are the same libraries in both chains: loaded
        // once. `later` (std.ttl as `late` is) gets a copy of its own.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("userland libraries reused: late, swap"), "reload {round}: {stdout}");
    }
    let report = end_stream(stream);
    let log = chain.stop();
    assert_every_frame_once(&report, &[TWICE, SENT_TTL - 4]);
    assert_eq!(report.ttl_histogram().len(), 2, "frames ran in both chains: {:?}", report.ttl_histogram());
    let (accounted, total) = frame_accounting(&log);
    assert_eq!(accounted, total, "every UMEM frame is free or with the kernel: {log}");
}

#[test]
fn reloads_add_and_remove_the_userland_tier_under_traffic() {
    let chain = MarksChain::start("addrm", &marks_once());
    let stream =
        SequencedStream::start(chain.client(), chain.gateway(), StreamPlan::at_rate(20_000, STREAM_LIMIT)).unwrap();
    let mut outputs = Vec::new();
    for round in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        let bundle = if round % 2 == 0 { two_tier() } else { marks_once() };
        let output = chain.reload(&bundle);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "reload {round}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        outputs.push(stdout);
    }
    let report = end_stream(stream);
    let log = chain.stop();
    assert_every_frame_once(&report, &[ONCE, TWICE]);
    assert_eq!(report.ttl_histogram().len(), 2, "frames ran in both chains: {:?}", report.ttl_histogram());
    for (round, output) in outputs.iter().enumerate() {
        let expected = if round % 2 == 0 { "userland tier started" } else { "userland tier stopped" };
        assert!(output.contains(expected), "reload {round}: {output}");
        if round % 2 == 1 {
            let (accounted, total) = frame_accounting(output);
            assert_eq!(accounted, total, "reload {round}: {output}");
        }
    }
    assert!(!log.contains("frames accounted for") || frame_accounting(&log).0 == frame_accounting(&log).1, "{log}");
}

#[test]
fn a_reload_creates_the_maps_that_are_new_or_changed_and_unpins_the_removed() {
    let chain = MarksChain::start("maps", &marks_once());
    let counted = bundle_of("tests/reload/marks_counted.gal");
    let pin = |map: &str| chain.bpffs.path.join("galette/marks").join(map);
    let stdout = |output: Output| {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };

    let there = stdout(chain.reload(&counted));
    assert!(there.contains("kept maps acl_v4; created acl_v6, seen; removed none"), "{there}");
    assert!(pin("seen").exists(), "the new map is pinned");
    let probe = probe_reflector(chain.client(), chain.gateway(), 20, Duration::from_secs(2)).unwrap();
    assert_eq!(probe.swapped, 20, "the kept ACL still lets the test network through: {probe:?}");
    let seen = stdout(chain.galette_command(&["map", "dump"], &[&counted, Path::new("seen")]));
    // Key 0 is std.counter's packet count, one value per CPU.
    let packets: u64 = seen
        .lines()
        .find_map(|line| line.strip_prefix("0 "))
        .map(|values| values.split_whitespace().map(|value| value.parse::<u64>().unwrap()).sum())
        .unwrap_or_else(|| panic!("no packet count in {seen}"));
    assert_eq!(packets, 20, "the new map counts the probe's frames: {seen}");

    let stale = chain.galette_command(&["map", "dump"], &[&marks_once(), Path::new("acl_v4")]);
    let stale_error = String::from_utf8_lossy(&stale.stderr);
    assert_eq!(stale.status.code(), Some(1), "the old bundle's layout is refused: {stale_error}");
    assert!(stale_error.contains("runs") && stale_error.contains("marks_counted"), "{stale_error}");

    let back = stdout(chain.reload(&marks_once()));
    assert!(back.contains("kept maps acl_v4; created acl_v6; removed seen"), "{back}");
    assert!(!pin("seen").exists(), "the removed map is unpinned");
    assert!(pin("acl_v4").exists() && pin("acl_v6").exists());
    let acl_pin = pin("acl_v4");
    chain.stop();
    assert!(!acl_pin.exists(), "the pins go when the chain stops");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
