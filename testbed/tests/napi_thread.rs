//! Threaded NAPI on a veth end (needs root and two CPUs): the receiver's
//! processing runs in its own kernel thread, on the CPU it was pinned to,
//! while the sender runs on another; the thread stays, pinned, while XDP
//! programs come and go.
//!
//! The receiver has an XDP program while frames arrive, as a device under
//! test does: veth hands a sender's socket buffers to the receiver's NAPI
//! only then (or when the sender has no TSO); otherwise they go through the
//! sender CPU's backlog, threaded NAPI or not.

use std::process::Command;

use galette_testbed::{
    RawSocket, VethPair, allowed_cpus, attach_xdp_pass, last_cpu, napi_instances, set_thread_affinity, thread_affinity,
    thread_receive_processing, thread_run_ns,
};

const FRAMES: u64 = 20_000;

/// NET_RX softirqs run so far on `cpu` (/proc/softirqs). Frames received
/// in the sender's softirq would raise about one per frame sent.
fn net_rx_softirqs(cpu: usize) -> u64 {
    let softirqs = std::fs::read_to_string("/proc/softirqs").unwrap();
    let line = softirqs.lines().find(|line| line.trim_start().starts_with("NET_RX:")).unwrap();
    line.split_whitespace().nth(1 + cpu).and_then(|count| count.parse().ok()).unwrap()
}

/// Frames received by `ifname` in `ns` so far (`ip -s`'s RX packets).
fn received_frames(ns: &str, ifname: &str) -> u64 {
    let output = Command::new("ip").args(["-n", ns, "-s", "-o", "link", "show", "dev", ifname]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    // `... RX: bytes packets errors ...\    1234 56 0 ...`: packets is the
    // second number after the RX heading.
    let after = text.split_once("RX:").map(|(_, rest)| rest).unwrap_or_default();
    let numbers: Vec<u64> = after.split_whitespace().filter_map(|word| word.parse().ok()).collect();
    numbers.get(1).copied().unwrap_or_else(|| panic!("no RX packets in {text:?}"))
}

#[test]
fn the_receivers_processing_runs_on_its_own_cpu() {
    let cpus = allowed_cpus().unwrap();
    assert!(cpus.len() >= 2, "this test needs two CPUs, it may use {cpus:?}");
    let (sender_cpu, receiver_cpu) = (cpus[0], *cpus.last().unwrap());
    let pair = VethPair::create("napi-thread").unwrap();
    let (receiver, sender) = (pair.a(), pair.b());

    let threads = thread_receive_processing(receiver.namespace(), receiver.interface(), &[receiver_cpu]).unwrap();
    assert_eq!(threads.len(), 1, "one queue, one NAPI thread: {threads:?}");
    let thread = threads[0];
    assert_eq!(thread_affinity(thread).unwrap(), [receiver_cpu]);

    let xdp = attach_xdp_pass(receiver.namespace(), receiver.interface()).unwrap();
    let run_before = thread_run_ns(thread).unwrap();
    let received_before = received_frames(receiver.namespace(), receiver.interface());
    let sender_softirqs_before = net_rx_softirqs(sender_cpu);
    let frame = sender.udp_frame_to(receiver, 4000, vec![0; 18]).to_bytes();
    let socket = RawSocket::open(sender.namespace(), sender.interface()).unwrap();
    // A frame that finds the receiver's ring full is dropped (ENOBUFS): the
    // receiver no longer keeps up on the sender's time.
    let sent = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                set_thread_affinity(0, &[sender_cpu]).unwrap();
                (0..FRAMES).filter(|_| socket.send(&frame).is_ok()).count() as u64
            })
            .join()
            .unwrap()
    });
    let sender_softirqs = net_rx_softirqs(sender_cpu) - sender_softirqs_before;
    std::thread::sleep(std::time::Duration::from_millis(200));
    let received = received_frames(receiver.namespace(), receiver.interface()) - received_before;
    assert!(sent > 0 && received >= sent * 9 / 10, "{received} of {sent} frames sent received");
    let ran_ns = thread_run_ns(thread).unwrap() - run_before;
    eprintln!(
        "sent {sent} of {FRAMES} frames from CPU {sender_cpu}, {received} received; NAPI thread {thread} ran \
         {ran_ns} ns; {sender_softirqs} NET_RX softirqs on the sender's CPU"
    );
    assert!(ran_ns > 0, "the NAPI thread did not run while {received} frames arrived");
    assert_eq!(last_cpu(thread).unwrap(), receiver_cpu, "the NAPI thread ran off its CPU");
    // The rest of the machine raises a few meanwhile.
    assert!(sender_softirqs < sent / 4, "{sender_softirqs} NET_RX softirqs on the sender's CPU for {sent} frames");

    // Detaching XDP neither ends the thread nor unpins it.
    drop(xdp);
    let instances = napi_instances(receiver.namespace(), receiver.interface()).unwrap();
    assert_eq!(instances.iter().map(|napi| napi.thread).collect::<Vec<_>>(), [Some(thread)]);
    assert_eq!(thread_affinity(thread).unwrap(), [receiver_cpu]);
    let again = attach_xdp_pass(receiver.namespace(), receiver.interface()).unwrap();
    assert_eq!(napi_instances(receiver.namespace(), receiver.interface()).unwrap()[0].thread, Some(thread));
    drop(again);
}

#[test]
fn a_missing_interface_is_a_clear_error() {
    let pair = VethPair::create("napi-missing").unwrap();
    let error = thread_receive_processing(pair.a().namespace(), "nosuch0", &[0]).unwrap_err();
    assert!(error.to_string().contains("nosuch0"), "{error}");
}
