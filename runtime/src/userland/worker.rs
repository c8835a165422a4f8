//! One userland worker: an AF_XDP socket and a thread that runs packets
//! through the userland instances to completion.
//!
//! Frames are never lost: every frame the worker takes from its RX ring ends
//! on the TX ring (sent, then back through the completion ring) or on the
//! free list, and the free list goes back to the fill ring as room allows.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use galette_bundle::UpcallMetadata;
use nf_std::abi::GaletteFrame;
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, TxQueue, Umem};

use super::library::NfLibrary;
use super::route::{Route, UserlandCounters};

/// How a worker waits for packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerMode {
    /// Block until packets arrive (interrupt-driven): no CPU when idle.
    Irq,
    /// Spin on the ring: lowest latency, one busy core per worker.
    Poll,
}

/// How many descriptors a worker handles per round.
const BATCH: usize = 64;

/// What all workers share.
pub struct Shared {
    pub umem: Umem,
    /// The fill and completion rings (only the first socket has them, so the
    /// workers take turns), and the frames waiting for room in the fill ring.
    pub rings: Mutex<Rings>,
    /// The first socket's fd, to wake the kernel up for the fill ring.
    pub fill_fd: RawFd,
    /// By manifest instance: the library of each userland instance.
    pub libraries: Vec<Option<NfLibrary>>,
    pub routes: Vec<Option<Vec<super::route::Route>>>,
    pub counters: Vec<Option<UserlandCounters>>,
    pub stop: AtomicBool,
    /// Frames dropped after `pass` (see `Route::Pass`) or `abort`.
    pub dropped: AtomicU64,
    /// Frames on the kernel's side: put on the fill or TX ring and not yet
    /// back from the RX or completion ring. With the free list, it accounts
    /// for every frame of the UMEM.
    pub kernel_frames: AtomicI64,
}

pub struct Rings {
    pub fill: FillQueue,
    pub completion: CompQueue,
    pub free: Vec<FrameDesc>,
}

impl Rings {
    /// Moves sent frames back to the free list, then as many free frames as
    /// fit onto the fill ring (it takes all of a batch or none of it).
    fn recycle(&mut self, fill_fd: RawFd, kernel_frames: &AtomicI64) {
        let mut completed = [FrameDesc::default(); BATCH];
        loop {
            // SAFETY: the completion ring only returns this UMEM's frames.
            let count = unsafe { self.completion.consume(&mut completed) };
            kernel_frames.fetch_sub(count as i64, Ordering::Relaxed);
            self.free.extend_from_slice(&completed[..count]);
            if count < BATCH {
                break;
            }
        }
        // `nb_free` may report more room than asked about.
        let room = (self.fill.nb_free(self.free.len() as u32) as usize).min(self.free.len());
        if room == 0 {
            return;
        }
        let start = self.free.len() - room;
        // SAFETY: these frames are ours: taken off the RX or completion ring
        // and not on any ring now.
        let produced = unsafe { self.fill.produce(&self.free[start..]) };
        if produced == room {
            self.free.truncate(start);
            kernel_frames.fetch_add(room as i64, Ordering::Relaxed);
        }
        if self.fill.needs_wakeup() {
            // A zero-length recvfrom is how libxdp wakes the kernel for the
            // fill ring.
            // SAFETY: a plain syscall on a socket fd that outlives the workers.
            unsafe { libc::recvfrom(fill_fd, std::ptr::null_mut(), 0, libc::MSG_DONTWAIT, std::ptr::null_mut(), std::ptr::null_mut()) };
        }
    }
}

/// Runs a worker until `shared.stop` is set.
pub fn run(shared: Arc<Shared>, mut rx: RxQueue, mut tx: TxQueue, mode: WorkerMode) {
    let mut received = [FrameDesc::default(); BATCH];
    let mut to_send: Vec<FrameDesc> = Vec::with_capacity(BATCH);
    let mut to_free: Vec<FrameDesc> = Vec::with_capacity(BATCH);
    while !shared.stop.load(Ordering::Relaxed) {
        lock(&shared.rings).recycle(shared.fill_fd, &shared.kernel_frames);
        // SAFETY: the RX ring only returns this UMEM's frames.
        let count = unsafe {
            match mode {
                WorkerMode::Irq => rx.poll_and_consume(&mut received, 100).unwrap_or(0),
                WorkerMode::Poll => rx.consume(&mut received),
            }
        };
        shared.kernel_frames.fetch_sub(count as i64, Ordering::Relaxed);
        for desc in &mut received[..count] {
            match process(&shared, desc) {
                Verdict::Send => to_send.push(*desc),
                Verdict::Free => to_free.push(*desc),
            }
        }
        let sent = send(&mut tx, &mut to_send, &mut to_free);
        shared.kernel_frames.fetch_add(sent as i64, Ordering::Relaxed);
        if !to_free.is_empty() {
            lock(&shared.rings).free.append(&mut to_free);
        }
    }
    // Frames still pending to send go back to the pool.
    lock(&shared.rings).free.append(&mut to_send);
}

fn lock(rings: &Mutex<Rings>) -> std::sync::MutexGuard<'_, Rings> {
    rings.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Puts frames on the TX ring and returns how many it took. The ring takes
/// all of a batch or none, so only as many as fit are offered; a frame that
/// finds no room after a wakeup is freed rather than kept forever.
fn send(tx: &mut TxQueue, to_send: &mut Vec<FrameDesc>, to_free: &mut Vec<FrameDesc>) -> usize {
    if to_send.is_empty() {
        return 0;
    }
    // `nb_free` may report more room than asked about.
    let room = (tx.nb_free(to_send.len() as u32) as usize).min(to_send.len());
    // SAFETY: these frames are ours and hold the packets to send.
    let sent = if room > 0 { unsafe { tx.produce_and_wakeup(&to_send[..room]).unwrap_or(0) } } else { 0 };
    to_send.drain(..sent);
    if !to_send.is_empty() {
        let _ = tx.wakeup();
        to_free.append(to_send);
    }
    sent
}

enum Verdict {
    Send,
    Free,
}

/// Runs one packet through the userland instances, starting where its
/// upcall metadata says.
fn process(shared: &Shared, desc: &mut FrameDesc) -> Verdict {
    // SAFETY: the frame is ours (just taken off the RX ring) and nothing else
    // touches it until we put it on a ring again.
    let mut data = unsafe { shared.umem.data_mut(desc) };
    let contents = data.contents_mut();
    let len = contents.len();
    let base = contents.as_mut_ptr();
    // The upcall wrote its metadata in the 8 bytes before the packet, inside
    // the same UMEM frame's headroom (XDP_PACKET_HEADROOM is 256 bytes).
    // SAFETY: those bytes lie in this frame, which we own; read unaligned.
    let metadata = unsafe { std::ptr::read_unaligned(base.sub(std::mem::size_of::<UpcallMetadata>()) as *const UpcallMetadata) };
    let mut instance = metadata.instance as usize;
    let mut frame = GaletteFrame { buffer: base, buffer_len: len, start: 0, len };
    loop {
        let (Some(Some(library)), Some(Some(routes)), Some(Some(counters))) =
            (shared.libraries.get(instance), shared.routes.get(instance), shared.counters.get(instance))
        else {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Verdict::Free;
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        let port = library.packet(&mut frame);
        let Some(route) = usize::try_from(port).ok().and_then(|port| routes.get(port)) else {
            counters.panicked.fetch_add(1, Ordering::Relaxed);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Verdict::Free;
        };
        counters.ports[port as usize].fetch_add(1, Ordering::Relaxed);
        match *route {
            Route::Next(next) => instance = next,
            Route::Tx => break,
            Route::Drop => return Verdict::Free,
            Route::Abort | Route::Pass => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                return Verdict::Free;
            }
        }
    }
    // The NF may have moved the frame's start or end: the descriptor's
    // start cannot move, so the bytes do.
    if frame.start != 0 {
        // SAFETY: both ranges lie in the frame's buffer; `copy` allows overlap.
        unsafe { std::ptr::copy(base.add(frame.start), base, frame.len) };
    }
    data.cursor().set_pos(frame.len);
    Verdict::Send
}

/// The raw fd of a socket's RX queue, for the fill-ring wakeup.
pub fn raw_fd(rx: &RxQueue) -> RawFd {
    rx.fd().as_raw_fd()
}
