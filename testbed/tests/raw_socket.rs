//! End-to-end checks of `RawSocket` and `UdpFrame` on a real veth pair
//! (needs root).

use std::net::UdpSocket;
use std::time::Duration;

use galette_testbed::frame::{UdpFrame, ethernet_dst, ethernet_src, udp_payload};
use galette_testbed::{RawSocket, VethPair, VethSide, run_in_netns};

const TIMEOUT: Duration = Duration::from_secs(5);

fn frame_between(from: &VethSide, to: &VethSide, payload: &[u8]) -> UdpFrame {
    UdpFrame {
        src_mac: from.mac(),
        dst_mac: to.mac(),
        src_ip: from.ip(),
        dst_ip: to.ip(),
        src_port: 40000,
        dst_port: 40001,
        payload: payload.to_vec(),
    }
}

/// True for frames carrying one of this test's payloads, which all start
/// with `marker`; everything else is the kernel's own traffic.
fn is_test_frame(frame: &[u8], marker: &[u8]) -> bool {
    udp_payload(frame).is_some_and(|payload| payload.starts_with(marker))
}

#[test]
fn frame_arrives_unchanged_and_outgoing_frames_are_not_received() {
    let pair = VethPair::create("raw-echo").unwrap();
    let socket_a = RawSocket::open(pair.a().namespace(), pair.a().interface()).unwrap();
    // A second socket on side A: the kernel does not show a packet socket
    // the frames it sent itself, but it does show them to other packet
    // sockets on the interface, as outgoing. This one must skip them.
    let observer_a = RawSocket::open(pair.a().namespace(), pair.a().interface()).unwrap();
    let socket_b = RawSocket::open(pair.b().namespace(), pair.b().interface()).unwrap();
    let marker = b"raw-echo";

    let request = frame_between(pair.a(), pair.b(), b"raw-echo seq=1").to_bytes();
    socket_a.send(&request).unwrap();

    let mut buf = vec![0u8; 65536];
    let len = socket_b
        .recv_matching(&mut buf, TIMEOUT, |frame| is_test_frame(frame, marker))
        .unwrap()
        .expect("request reaches side B");
    assert_eq!(&buf[..len], &request[..], "byte-for-byte identical");
    assert_eq!(ethernet_src(&buf[..len]), Some(pair.a().mac()));
    assert_eq!(ethernet_dst(&buf[..len]), Some(pair.b().mac()));

    // Both side A sockets had the request go out before the reply came in;
    // the first test frame either receives must still be the reply.
    let reply = frame_between(pair.b(), pair.a(), b"raw-echo seq=2").to_bytes();
    socket_b.send(&reply).unwrap();
    for socket in [&socket_a, &observer_a] {
        let len = socket
            .recv_matching(&mut buf, TIMEOUT, |frame| is_test_frame(frame, marker))
            .unwrap()
            .expect("reply reaches side A");
        assert_eq!(&buf[..len], &reply[..]);
    }

    // And side B never receives its own reply back.
    let echoed =
        socket_b.recv_matching(&mut buf, Duration::from_millis(200), |frame| is_test_frame(frame, marker)).unwrap();
    assert_eq!(echoed, None);
}

#[test]
fn kernel_on_side_b_accepts_the_frame_so_its_checksums_are_right() {
    let pair = VethPair::create("raw-kernel").unwrap();
    // The kernel drops UDP datagrams with a bad IPv4 or UDP checksum, so a
    // delivery to an ordinary socket proves both are correct.
    let receiver = run_in_netns(pair.b().namespace(), || UdpSocket::bind((VethPair::IP_B, 40001))).unwrap().unwrap();
    receiver.set_read_timeout(Some(TIMEOUT)).unwrap();
    let socket_a = RawSocket::open(pair.a().namespace(), pair.a().interface()).unwrap();

    // An odd payload length exercises the checksum's padding.
    let frame = frame_between(pair.a(), pair.b(), b"checked by the kernel!");
    socket_a.send(&frame.to_bytes()).unwrap();

    let mut buf = [0u8; 64];
    let (len, source) = receiver.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], &frame.payload[..]);
    assert_eq!(source, (VethPair::IP_A, 40000).into());
}

#[test]
fn receiving_with_nothing_sent_times_out() {
    let pair = VethPair::create("raw-quiet").unwrap();
    let socket_b = RawSocket::open(pair.b().namespace(), pair.b().interface()).unwrap();
    let mut buf = [0u8; 2048];
    let received =
        socket_b.recv_matching(&mut buf, Duration::from_millis(100), |frame| udp_payload(frame).is_some()).unwrap();
    assert_eq!(received, None);
}

#[test]
fn opening_a_missing_interface_is_an_error() {
    let pair = VethPair::create("raw-missing").unwrap();
    let error = RawSocket::open(pair.a().namespace(), "nosuch0").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
    assert!(error.to_string().contains("nosuch0"), "{error}");
}
