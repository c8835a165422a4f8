//! A steady, bounded stream of sequence-numbered UDP frames through a
//! reflector, and what came back: which frames, how often, and with what
//! IPv4 TTL (the mark a chain can leave on each frame). Used to prove that a
//! live reload loses no frame and that each frame ran in one chain.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::frame::udp_payload;
use crate::raw_socket::RawSocket;
use crate::veth::VethSide;

/// What the payload of every frame of a stream starts with.
const MAGIC: &[u8; 8] = b"galette#";
/// Where the IPv4 TTL is in an Ethernet II / IPv4 frame.
const TTL_OFFSET: usize = 14 + 8;
/// Where the UDP checksum is, after a 20-byte IPv4 header.
const UDP_CHECKSUM_OFFSET: usize = 14 + 20 + 6;

/// How to send: `frames` frames, `burst` at a time, one burst every
/// `period` (so `burst / period` frames per second).
#[derive(Debug, Clone, Copy)]
pub struct StreamPlan {
    pub frames: u32,
    pub burst: u32,
    pub period: Duration,
}

impl StreamPlan {
    /// About `rate` frames per second for `duration`, in bursts of a
    /// millisecond.
    pub fn at_rate(rate: u32, duration: Duration) -> StreamPlan {
        let frames = (f64::from(rate) * duration.as_secs_f64()).round() as u32;
        StreamPlan { frames, burst: (rate / 1000).max(1), period: Duration::from_millis(1) }
    }
}

/// What came back of a stream.
#[derive(Debug, Clone)]
pub struct StreamReport {
    pub sent: u32,
    /// By sequence number: how many copies came back (0: lost) and the TTL
    /// of the last one.
    pub copies: Vec<u32>,
    pub ttls: Vec<u8>,
}

impl StreamReport {
    pub fn lost(&self) -> Vec<u32> {
        (0..self.sent).filter(|&seq| self.copies[seq as usize] == 0).collect()
    }

    pub fn duplicated(&self) -> Vec<u32> {
        (0..self.sent).filter(|&seq| self.copies[seq as usize] > 1).collect()
    }

    /// How many frames came back with each TTL, by TTL.
    pub fn ttl_histogram(&self) -> Vec<(u8, u32)> {
        let mut counts = [0u32; 256];
        for (seq, ttl) in self.ttls.iter().enumerate() {
            if self.copies[seq] > 0 {
                counts[usize::from(*ttl)] += 1;
            }
        }
        (0..=255u8).filter(|ttl| counts[usize::from(*ttl)] > 0).map(|ttl| (ttl, counts[usize::from(ttl)])).collect()
    }
}

/// A stream being sent from `sender` to `reflector` by a thread of its own,
/// with the reflected frames collected by another. `finish` waits for both.
pub struct SequencedStream {
    sender: std::thread::JoinHandle<io::Result<u32>>,
    receiver: std::thread::JoinHandle<io::Result<(Vec<u32>, Vec<u8>)>>,
    sending: Arc<AtomicBool>,
    /// Set to end the stream before its plan does.
    stop: Arc<AtomicBool>,
}

impl SequencedStream {
    /// Starts sending `plan` (TTL 64, UDP from port 40 000 to 9) and
    /// collecting what comes back.
    pub fn start(sender: &VethSide, reflector: &VethSide, plan: StreamPlan) -> io::Result<SequencedStream> {
        let socket = RawSocket::open(sender.namespace(), sender.interface())?;
        let receive = RawSocket::open(sender.namespace(), sender.interface())?;
        receive.set_receive_buffer(64 << 20)?;
        let template =
            sender.udp_frame_to(reflector, 40_000, [MAGIC.as_slice(), &0u32.to_be_bytes()].concat()).to_bytes();
        let sending = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let receiver = {
            let sending = Arc::clone(&sending);
            let frames = plan.frames as usize;
            std::thread::spawn(move || collect(&receive, frames, &sending))
        };
        let sender = {
            let (sending, stop) = (Arc::clone(&sending), Arc::clone(&stop));
            std::thread::spawn(move || {
                let sent = send(&socket, template, plan, &stop);
                sending.store(false, Ordering::Release);
                sent
            })
        };
        Ok(SequencedStream { sender, receiver, sending, stop })
    }

    /// Whether frames are still being sent (the plan is not through).
    pub fn is_sending(&self) -> bool {
        self.sending.load(Ordering::Acquire)
    }

    /// Ends the stream now (the frames sent so far are the stream), then as
    /// [`finish`](Self::finish).
    pub fn stop_and_finish(self) -> io::Result<StreamReport> {
        self.stop.store(true, Ordering::Release);
        self.finish()
    }

    /// Waits for the last frame to be sent and for the stragglers to come
    /// back (up to half a second after), and reports.
    pub fn finish(self) -> io::Result<StreamReport> {
        let sent = self.sender.join().map_err(|_| io::Error::other("the sending thread panicked"))?;
        self.sending.store(false, Ordering::Release);
        let (mut copies, mut ttls) =
            self.receiver.join().map_err(|_| io::Error::other("the receiving thread panicked"))??;
        let sent = sent?;
        copies.truncate(sent as usize);
        ttls.truncate(sent as usize);
        Ok(StreamReport { sent, copies, ttls })
    }
}

/// Sends every frame of `plan` (or those until `stop` is set), its sequence
/// number after the magic; returns how many it sent.
fn send(socket: &RawSocket, mut frame: Vec<u8>, plan: StreamPlan, stop: &AtomicBool) -> io::Result<u32> {
    let seq_at = frame.len() - 4;
    // No UDP checksum (zero, which IPv4 allows): the sequence number changes
    // with every frame, and nothing on the way checks it.
    frame[UDP_CHECKSUM_OFFSET..UDP_CHECKSUM_OFFSET + 2].fill(0);
    let start = Instant::now();
    let mut seq = 0;
    let mut burst_index = 0u32;
    while seq < plan.frames && !stop.load(Ordering::Acquire) {
        for _ in 0..plan.burst.min(plan.frames - seq) {
            frame[seq_at..].copy_from_slice(&seq.to_be_bytes());
            socket.send(&frame)?;
            seq += 1;
        }
        burst_index += 1;
        let next = start + plan.period * burst_index;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(seq)
}

/// Collects the stream's frames until the sender is done and nothing more
/// arrived for half a second.
fn collect(socket: &RawSocket, frames: usize, sending: &AtomicBool) -> io::Result<(Vec<u32>, Vec<u8>)> {
    let mut copies = vec![0u32; frames];
    let mut ttls = vec![0u8; frames];
    let mut buf = vec![0u8; 65536];
    let mut quiet_since = None;
    loop {
        match socket.recv(&mut buf, Duration::from_millis(100))? {
            Some(len) => {
                quiet_since = None;
                let frame = &buf[..len];
                let Some(payload) = udp_payload(frame) else { continue };
                let Some(seq) = payload.strip_prefix(MAGIC.as_slice()) else { continue };
                let Ok(seq) = <[u8; 4]>::try_from(seq) else { continue };
                let seq = u32::from_be_bytes(seq) as usize;
                if seq < frames {
                    copies[seq] += 1;
                    ttls[seq] = frame[TTL_OFFSET];
                }
            }
            None if sending.load(Ordering::Acquire) => {}
            None => {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(500) {
                    return Ok((copies, ttls));
                }
            }
        }
    }
}
