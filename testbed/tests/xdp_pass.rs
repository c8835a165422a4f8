//! End-to-end checks of the XDP pass program guard (needs root).

use std::time::Duration;

use galette_testbed::frame::{UdpFrame, udp_payload};
use galette_testbed::{RawSocket, VethPair, attach_xdp_pass, xdp_program_attached};

#[test]
fn program_is_attached_while_the_guard_lives() {
    let pair = VethPair::create("xdp-guard").unwrap();
    let (ns, interface) = (pair.b().namespace(), pair.b().interface());
    assert!(!xdp_program_attached(ns, interface).unwrap());

    let program = attach_xdp_pass(ns, interface).unwrap();
    assert!(xdp_program_attached(ns, interface).unwrap());
    assert!(
        !xdp_program_attached(pair.a().namespace(), pair.a().interface()).unwrap(),
        "only the chosen interface gets the program"
    );

    drop(program);
    assert!(!xdp_program_attached(ns, interface).unwrap());
}

#[test]
fn a_second_program_on_the_same_interface_is_refused() {
    let pair = VethPair::create("xdp-twice").unwrap();
    let (ns, interface) = (pair.a().namespace(), pair.a().interface());
    let _first = attach_xdp_pass(ns, interface).unwrap();
    let error = attach_xdp_pass(ns, interface).unwrap_err();
    assert!(error.to_string().contains("BPF_LINK_CREATE"), "{error}");
}

#[test]
fn attaching_to_a_missing_interface_is_an_error() {
    let pair = VethPair::create("xdp-missing").unwrap();
    let error = attach_xdp_pass(pair.a().namespace(), "nosuch0").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
}

#[test]
fn frames_still_arrive_through_the_pass_program() {
    let pair = VethPair::create("xdp-flow").unwrap();
    let _program = attach_xdp_pass(pair.b().namespace(), pair.b().interface()).unwrap();
    let socket_a = RawSocket::open(pair.a().namespace(), pair.a().interface()).unwrap();
    let socket_b = RawSocket::open(pair.b().namespace(), pair.b().interface()).unwrap();

    let frame = UdpFrame {
        src_mac: pair.a().mac(),
        dst_mac: pair.b().mac(),
        src_ip: pair.a().ip(),
        dst_ip: pair.b().ip(),
        src_port: 40000,
        dst_port: 40001,
        payload: b"xdp-flow".to_vec(),
    }
    .to_bytes();
    socket_a.send(&frame).unwrap();

    let mut buf = vec![0u8; 65536];
    let len = socket_b
        .recv_matching(&mut buf, Duration::from_secs(5), |received| udp_payload(received) == Some(&b"xdp-flow"[..]))
        .unwrap()
        .expect("frame passes the XDP program");
    assert_eq!(&buf[..len], &frame[..]);
}
