//! End-to-end checks of `VethPair` (needs root: creates real namespaces).

use std::net::UdpSocket;
use std::process::Command;
use std::thread;
use std::time::Duration;

use galette_testbed::{VethPair, link_info, run_in_netns};

fn command_output(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().expect("run command");
    assert!(output.status.success(), "{program} {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn namespace_exists(name: &str) -> bool {
    command_output("ip", &["netns", "list"]).lines().any(|line| line.split_whitespace().next() == Some(name))
}

#[test]
fn namespaces_exist_while_the_pair_lives_and_are_gone_after_drop() {
    let pair = VethPair::create("veth-drop").unwrap();
    let names = [pair.a().namespace().to_owned(), pair.b().namespace().to_owned()];
    assert_ne!(names[0], names[1]);
    for name in &names {
        assert!(name.starts_with("gal-veth-drop-"), "{name}");
        assert!(namespace_exists(name), "{name} missing");
    }
    drop(pair);
    for name in &names {
        assert!(!namespace_exists(name), "{name} left behind");
    }
}

#[test]
fn explicit_cleanup_removes_the_namespaces() {
    let pair = VethPair::create("veth-cleanup").unwrap();
    let names = [pair.a().namespace().to_owned(), pair.b().namespace().to_owned()];
    pair.cleanup().unwrap();
    for name in &names {
        assert!(!namespace_exists(name), "{name} left behind");
    }
}

#[test]
fn sides_have_their_interfaces_addresses_and_identities() {
    let pair = VethPair::create("veth-config").unwrap();
    let sides = [(pair.a(), "veth0", "198.18.0.1/24"), (pair.b(), "veth1", "198.18.0.2/24")];
    for (side, interface, address) in sides {
        assert_eq!(side.interface(), interface);
        let addresses = command_output("ip", &["-n", side.namespace(), "-4", "-o", "addr", "show", "dev", interface]);
        assert!(addresses.contains(address), "{addresses}");
        let state = command_output("ip", &["-n", side.namespace(), "-br", "link", "show"]);
        assert!(
            state.lines().all(|line| line.contains(" UP ") || line.contains(" UNKNOWN ")),
            "every link (veth and lo) is up: {state}"
        );
        let link = link_info(side.namespace(), interface).unwrap();
        assert_eq!(link.mac, side.mac());
        assert_eq!(link.ifindex, side.ifindex());
    }
    assert_eq!(pair.a().ip(), VethPair::IP_A);
    assert_eq!(pair.b().ip(), VethPair::IP_B);
    assert_ne!(pair.a().mac(), pair.b().mac());
}

#[test]
fn kernel_traffic_flows_between_the_sides() {
    let pair = VethPair::create("veth-udp").unwrap();
    let receiver = run_in_netns(pair.b().namespace(), || UdpSocket::bind((VethPair::IP_B, 0))).unwrap().unwrap();
    receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let destination = receiver.local_addr().unwrap();
    let sender = run_in_netns(pair.a().namespace(), || UdpSocket::bind((VethPair::IP_A, 0))).unwrap().unwrap();

    sender.send_to(b"over the veth", destination).unwrap();
    let mut buf = [0u8; 64];
    let (len, source) = receiver.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"over the veth");
    assert_eq!(source, sender.local_addr().unwrap());
}

#[test]
fn tx_offload_can_be_disabled_on_both_sides() {
    let pair = VethPair::create("veth-offload").unwrap();
    pair.disable_tx_offload().unwrap();
    for side in [pair.a(), pair.b()] {
        let features = command_output("ip", &["netns", "exec", side.namespace(), "ethtool", "-k", side.interface()]);
        assert!(features.contains("tx-checksumming: off"), "{features}");
    }
}

#[test]
fn concurrent_pairs_get_distinct_namespaces() {
    let names: Vec<String> = thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let pair = VethPair::create("veth-many").unwrap();
                    vec![pair.a().namespace().to_owned(), pair.b().namespace().to_owned()]
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().unwrap()).collect()
    });
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8, "{names:?}");
    for name in &names {
        assert!(!namespace_exists(name), "{name} left behind");
    }
}

#[test]
fn invalid_tag_is_rejected_before_anything_is_created() {
    let error = VethPair::create("no/slashes").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}
