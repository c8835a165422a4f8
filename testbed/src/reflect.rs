//! Probing a reflector: send numbered UDP frames from one side of a veth pair
//! and look at what comes back, frame by frame.

use std::io;
use std::time::Duration;

use crate::frame::{ethernet_dst, ethernet_src, udp_payload};
use crate::{RawSocket, VethSide};

/// What came back for the frames a probe sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReflectReport {
    pub sent: u32,
    /// Came back with source and destination MAC swapped.
    pub swapped: u32,
    /// Came back, but with the addresses not swapped.
    pub not_swapped: u32,
    /// Did not come back within the timeout.
    pub lost: u32,
}

/// Sends `count` UDP frames from `sender` to `reflector`, one at a time, each
/// carrying its sequence number, and waits up to `timeout` for each to come
/// back to `sender`. Frames are told apart by their payload, so the kernel's
/// own traffic on the link is ignored.
pub fn probe_reflector(
    sender: &VethSide,
    reflector: &VethSide,
    count: u32,
    timeout: Duration,
) -> io::Result<ReflectReport> {
    let socket = RawSocket::open(sender.namespace(), sender.interface())?;
    let mut report = ReflectReport { sent: count, ..ReflectReport::default() };
    let mut buf = vec![0u8; 2048];
    for seq in 0..count {
        let payload = format!("galette-probe {seq}").into_bytes();
        let frame = sender.udp_frame_to(reflector, 40_000, payload.clone());
        socket.send(&frame.to_bytes())?;
        let reply = socket.recv_matching(&mut buf, timeout, |frame| udp_payload(frame) == Some(&payload[..]))?;
        match reply {
            None => report.lost += 1,
            Some(len) => {
                let back = &buf[..len];
                if ethernet_dst(back) == Some(sender.mac()) && ethernet_src(back) == Some(reflector.mac()) {
                    report.swapped += 1;
                } else {
                    report.not_swapped += 1;
                }
            }
        }
    }
    Ok(report)
}
