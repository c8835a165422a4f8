//! One userland worker: a thread with one AF_XDP socket on each interface
//! of the chain, that runs packets through the userland instances to
//! completion.
//!
//! Frames are never lost: every frame the worker takes from an RX ring ends
//! on a TX ring (sent, then back through that interface's completion ring)
//! or back in its pool, and a pool's free frames go back to its fill ring as
//! room allows.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use galette_bundle::UpcallMetadata;
use nf_std::abi::GaletteFrame;
use xsk_rs::{FrameDesc, TxQueue, Umem};

use super::pool::{Pool, RING_SIZE, WorkerSocket, raw_fd};
use super::program::{self, Programs, UserlandProgram};
use super::route::Route;

/// How a worker waits for packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerMode {
    /// Block until packets arrive (interrupt-driven): no CPU when idle.
    Irq,
    /// Spin on the rings: lowest latency, one busy core per worker.
    Poll,
}

impl WorkerMode {
    pub fn name(self) -> &'static str {
        match self {
            WorkerMode::Irq => "irq",
            WorkerMode::Poll => "poll",
        }
    }
}

/// Rounds without TX progress after which a worker waiting for a busy
/// device sleeps a millisecond at a time rather than spin.
const TX_SPIN_ROUNDS: u32 = 10_000;

/// How many descriptors a worker handles per round and socket.
const BATCH: usize = 64;

/// Which pools belong to which interface: pool `first[slot] + queue` is
/// queue `queue` of the interface of `slot`.
#[derive(Debug, Default)]
pub struct PoolLayout {
    first: Vec<usize>,
    queues: Vec<usize>,
    /// By pool: its interface slot and queue.
    place: Vec<(usize, usize)>,
}

impl PoolLayout {
    /// Adds the next interface slot, with `queues` pools.
    pub fn add_interface(&mut self, queues: usize) {
        let slot = self.first.len();
        self.first.push(self.place.len());
        self.queues.push(queues);
        self.place.extend((0..queues).map(|queue| (slot, queue)));
    }

    /// The pool a frame that came in on pool `ingress` leaves by, out of the
    /// interface of `slot`: the same queue number there, if it has one.
    fn egress(&self, ingress: usize, slot: usize) -> Option<usize> {
        let (ingress_slot, queue) = *self.place.get(ingress)?;
        if ingress_slot == slot {
            return Some(ingress);
        }
        Some(self.first.get(slot)? + queue % self.queues.get(slot)?.max(&1))
    }
}

/// What all workers share.
pub struct Shared {
    /// The frames of each queue of each interface (see [`PoolLayout`]).
    pub pools: Vec<Pool>,
    pub layout: PoolLayout,
    /// The versions of the chain's userland part (see `program`).
    pub programs: Programs,
    pub stop: AtomicBool,
    /// Frames dropped after `pass` (see `Route::Pass`) or `abort`, or for
    /// want of a free frame on the interface they were to leave by.
    pub dropped: AtomicU64,
}

/// What a worker holds for one interface during a round.
#[derive(Default)]
struct Pending {
    /// Frames of this interface's pool to put on its TX ring.
    to_send: Vec<FrameDesc>,
    /// Frames of this interface's pool to give back.
    to_free: Vec<FrameDesc>,
    /// Free frames of this interface's pool, kept at hand for packets
    /// copied in from another interface.
    spare: Vec<FrameDesc>,
}

/// Runs a worker until `shared.stop` is set. `sockets` holds its socket on
/// each pool, by pool index.
pub fn run(shared: Arc<Shared>, mut sockets: Vec<WorkerSocket>, mode: WorkerMode) {
    let mut received = [FrameDesc::default(); BATCH];
    let mut pending: Vec<Pending> = sockets.iter().map(|_| Pending::default()).collect();
    let mut poll_fds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|socket| libc::pollfd { fd: raw_fd(&socket.rx), events: libc::POLLIN, revents: 0 })
        .collect();
    let mut busy = false;
    let (mut tx_held_before, mut tx_stalled_rounds) = (0, 0u32);
    while !shared.stop.load(Ordering::Relaxed) {
        for pool in &shared.pools {
            pool.recycle();
        }
        let was_busy = std::mem::take(&mut busy);
        // Copy-mode TX sends a limited number of frames per wakeup, and none
        // while the device is busy: wake a ring again while it holds frames.
        let mut tx_held = 0;
        for socket in &mut sockets {
            let held = RING_SIZE - socket.tx.nb_free(RING_SIZE).min(RING_SIZE);
            if held > 0 {
                let _ = socket.tx.wakeup();
                tx_held += held;
            }
        }
        // Frames waiting to leave are not slept on: a millisecond's sleep
        // there is a millisecond on their latency. Unless the device takes
        // none for many rounds (a link down), which is not worth a core.
        tx_stalled_rounds = if tx_held > 0 && tx_held >= tx_held_before { tx_stalled_rounds + 1 } else { 0 };
        tx_held_before = tx_held;
        // Under load, more packets are waiting already: sleep in poll(2) only
        // when the last round found none.
        if mode == WorkerMode::Irq && !was_busy {
            // Blocks until a socket has packets; the timeout lets the worker
            // see `stop` and recycle frames when traffic is quiet.
            let timeout = match tx_held {
                0 => 100,
                _ if tx_stalled_rounds < TX_SPIN_ROUNDS => 0,
                _ => 1,
            };
            // SAFETY: `poll_fds` is a live array of `poll_fds.len()` entries.
            unsafe { libc::poll(poll_fds.as_mut_ptr(), poll_fds.len() as libc::nfds_t, timeout) };
        }
        // The versions of the userland part for this round: a reload adds
        // one between rounds, never in the middle of a frame.
        let versions = shared.programs.snapshot();
        for (ingress, socket) in sockets.iter_mut().enumerate() {
            // SAFETY: the RX ring only returns this UMEM's frames.
            let count = unsafe { socket.rx.consume(&mut received) };
            shared.pools[ingress].received(count);
            busy |= count > 0;
            for desc in &mut received[..count] {
                let verdict = match process(&shared, &versions, &shared.pools[ingress].umem, desc) {
                    Verdict::Back => Some(ingress),
                    Verdict::Out(slot) => shared.layout.egress(ingress, slot).or_else(|| {
                        // A role without sockets: only a manifest the runtime
                        // did not check could say so.
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                        None
                    }),
                    Verdict::Free => None,
                };
                match verdict {
                    Some(egress) if egress == ingress => pending[ingress].to_send.push(*desc),
                    Some(egress) => {
                        if let Some(copy) = copy_across(&shared, &mut pending, desc, ingress, egress) {
                            pending[egress].to_send.push(copy);
                        }
                        pending[ingress].to_free.push(*desc);
                    }
                    None => pending[ingress].to_free.push(*desc),
                }
            }
        }
        for ((socket, pending), pool) in sockets.iter_mut().zip(&mut pending).zip(&shared.pools) {
            let sent = send(&mut socket.tx, &mut pending.to_send, &mut pending.to_free);
            pool.sent(sent);
            pool.give_back(&mut pending.to_free);
        }
    }
    // Whatever the worker still holds goes back to its pool.
    for (pending, pool) in pending.iter_mut().zip(&shared.pools) {
        pool.give_back(&mut pending.to_send);
        pool.give_back(&mut pending.spare);
    }
}

/// Copies the packet in `desc` (of pool `ingress`) into a frame of pool
/// `egress`, to send it there. `None` (the packet is dropped and counted) if
/// that pool has no free frame.
fn copy_across(
    shared: &Shared,
    pending: &mut [Pending],
    desc: &FrameDesc,
    ingress: usize,
    egress: usize,
) -> Option<FrameDesc> {
    let (Some(target), Some(pool)) = (pending.get_mut(egress), shared.pools.get(egress)) else {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    if target.spare.is_empty() {
        pool.take(BATCH, &mut target.spare);
    }
    let Some(mut copy) = target.spare.pop() else {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    let written = {
        // SAFETY: `desc` is a frame of the ingress pool the worker owns;
        // `copy` a free frame of the egress pool, taken by this worker alone.
        let packet = unsafe { shared.pools[ingress].umem.data(desc) };
        // SAFETY: as above.
        let mut data = unsafe { pool.umem.data_mut(&mut copy) };
        let mut cursor = data.cursor();
        cursor.set_pos(0);
        cursor.write_all(packet.contents()).is_ok()
    };
    if !written {
        // Both frames are the same size, so this cannot happen; the frame
        // goes back all the same.
        target.spare.push(copy);
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    Some(copy)
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
    /// Send it back out where it came in.
    Back,
    /// Send it out of the interface of this slot.
    Out(usize),
    Free,
}

/// Runs one packet through the userland instances of the version that sent
/// it up, starting where its upcall metadata says.
fn process(shared: &Shared, versions: &[Arc<UserlandProgram>], umem: &Umem, desc: &mut FrameDesc) -> Verdict {
    // SAFETY: the frame is ours (just taken off the RX ring) and nothing else
    // touches it until we put it on a ring again.
    let mut data = unsafe { umem.data_mut(desc) };
    let contents = data.contents_mut();
    let len = contents.len();
    let base = contents.as_mut_ptr();
    // The upcall wrote its metadata in the 8 bytes before the packet, inside
    // the same UMEM frame's headroom (XDP_PACKET_HEADROOM is 256 bytes).
    // SAFETY: those bytes lie in this frame, which we own; read unaligned.
    let metadata =
        unsafe { std::ptr::read_unaligned(base.sub(std::mem::size_of::<UpcallMetadata>()) as *const UpcallMetadata) };
    let mut instance = usize::from(metadata.instance);
    // A version older than those kept (two reloads in less time than a frame
    // waited on its ring): nothing is left to run it with.
    let Some(program) = program::of_generation(versions, metadata.generation) else {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        return Verdict::Free;
    };
    let mut frame = GaletteFrame { buffer: base, buffer_len: len, start: 0, len };
    let egress = loop {
        let (Some(Some(loaded)), Some(Some(routes)), Some(Some(counters))) =
            (program.libraries.get(instance), program.routes.get(instance), program.counters.get(instance))
        else {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Verdict::Free;
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        let port = loaded.library.packet(&mut frame);
        let Some(route) = usize::try_from(port).ok().and_then(|port| routes.get(port)) else {
            counters.panicked.fetch_add(1, Ordering::Relaxed);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Verdict::Free;
        };
        counters.ports[port as usize].fetch_add(1, Ordering::Relaxed);
        match *route {
            Route::Next(next) => instance = next,
            Route::Tx => break Verdict::Back,
            Route::Out(role) => break Verdict::Out(role as usize),
            Route::Drop => return Verdict::Free,
            Route::Abort | Route::Pass => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                return Verdict::Free;
            }
        }
    };
    // The NF may have moved the frame's start or end: the descriptor's
    // start cannot move, so the bytes do.
    if frame.start != 0 {
        // SAFETY: both ranges lie in the frame's buffer; `copy` allows overlap.
        unsafe { std::ptr::copy(base.add(frame.start), base, frame.len) };
    }
    data.cursor().set_pos(frame.len);
    egress
}
