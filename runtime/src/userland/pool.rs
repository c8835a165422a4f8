//! A frame pool: the UMEM of one RX queue of one interface, its fill and
//! completion rings, and the bookkeeping that accounts for every one of its
//! frames.
//!
//! Each queue of each interface has a UMEM of its own. libxdp binds every
//! socket after a UMEM's first with that first socket as the one it shares
//! with, and the kernel only lets a second socket on another interface or
//! queue do that if it brings fill and completion rings of its own: one per
//! queue, so a second worker on that queue could not join it. A frame that
//! leaves by another pool's socket than the one it came in on is therefore
//! copied into a frame of that pool.

use std::num::NonZeroU32;
use std::os::fd::RawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use xsk_rs::config::{Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use super::UserlandError;

/// UMEM frames per pool: twice a ring's size, so the fill ring never
/// runs dry while the RX and TX rings hold frames.
pub const FRAMES: u32 = 4096;
pub const RING_SIZE: u32 = 2048;

/// `SOL_XDP` and `XDP_MAX_TX_SKB_BUDGET` (Linux 6.17): how many frames one
/// TX wakeup sends in copy mode (32 by default).
const SOL_XDP: i32 = 283;
const XDP_MAX_TX_SKB_BUDGET: i32 = 9;
/// A worker's batch fits in one wakeup.
const TX_BUDGET: i32 = 256;

/// How many completed frames are taken off the completion ring at a time.
const BATCH: usize = 64;

/// A worker's socket on one interface.
pub struct WorkerSocket {
    pub tx: TxQueue,
    pub rx: RxQueue,
}

/// The frames of one queue's UMEM.
pub struct Pool {
    pub umem: Umem,
    rings: Mutex<Rings>,
    /// Frames on the kernel's side: put on the fill or a TX ring and not yet
    /// back from an RX or the completion ring. With the free list, it
    /// accounts for every frame of the UMEM.
    kernel_frames: AtomicI64,
}

struct Rings {
    fill: FillQueue,
    completion: CompQueue,
    /// The fd of the socket the rings came with, to wake the kernel up for
    /// the fill ring.
    fd: RawFd,
    /// Frames on no ring, waiting for room on the fill ring.
    free: Vec<FrameDesc>,
}

impl Pool {
    /// Creates the UMEM of RX queue `queue` of `interface` and `workers`
    /// sockets bound to that queue sharing it, one per worker.
    pub fn create(interface: &str, queue: u32, workers: u32) -> Result<(Pool, Vec<WorkerSocket>), UserlandError> {
        let name: Interface = interface.parse().map_err(|_| UserlandError::NoSuchInterface(interface.to_owned()))?;
        let ring = QueueSize::new(RING_SIZE).expect("a power of two");
        let umem_config = UmemConfig::builder()
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(UserlandError::UmemConfig)?;
        let (umem, free) = Umem::new(umem_config, NonZeroU32::new(FRAMES).expect("non-zero"), false)
            .map_err(|source| UserlandError::Umem { interface: interface.to_owned(), queue, source })?;
        let socket_config = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            // The chain's own XDP program redirects to the sockets; libxdp
            // must not load one of its own.
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .build();
        let mut sockets = Vec::new();
        let mut rings = None;
        for _ in 0..workers {
            let (tx, rx, fill_and_completion) = create_socket(socket_config, &umem, &name, interface, queue)?;
            raise_tx_budget(&rx);
            if rings.is_none() {
                rings = fill_and_completion.map(|(fill, completion)| Rings {
                    fill,
                    completion,
                    fd: raw_fd(&rx),
                    free: Vec::new(),
                });
            }
            sockets.push(WorkerSocket { tx, rx });
        }
        let mut rings = rings.ok_or_else(|| UserlandError::NoFillRing { interface: interface.to_owned(), queue })?;
        rings.free = free;
        Ok((Pool { umem, rings: Mutex::new(rings), kernel_frames: AtomicI64::new(0) }, sockets))
    }

    /// Moves sent frames back to the free list, then as many free frames as
    /// fit onto the fill ring (it takes all of a batch or none of it).
    pub fn recycle(&self) {
        let mut guard = self.lock();
        let rings = &mut *guard;
        self.take_completed(rings);
        // `nb_free` may report more room than asked about.
        let room = (rings.fill.nb_free(rings.free.len() as u32) as usize).min(rings.free.len());
        if room > 0 {
            let start = rings.free.len() - room;
            // SAFETY: these frames are ours: taken off an RX or the
            // completion ring and not on any ring now.
            let produced = unsafe { rings.fill.produce(&rings.free[start..]) };
            if produced == room {
                rings.free.truncate(start);
                self.kernel_frames.fetch_add(room as i64, Ordering::Relaxed);
            }
        }
        if rings.fill.needs_wakeup() {
            // A zero-length recvfrom is how libxdp wakes the kernel for the
            // fill ring.
            // SAFETY: a plain syscall on a socket fd that outlives the workers.
            unsafe {
                libc::recvfrom(
                    rings.fd,
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
        }
    }

    /// Moves up to `count` free frames into `into`, for frames copied in
    /// from another interface.
    pub fn take(&self, count: usize, into: &mut Vec<FrameDesc>) {
        let mut rings = self.lock();
        if rings.free.len() < count {
            self.take_completed(&mut rings);
        }
        let start = rings.free.len().saturating_sub(count);
        into.extend(rings.free.drain(start..));
    }

    /// Returns frames to the free list.
    pub fn give_back(&self, frames: &mut Vec<FrameDesc>) {
        if !frames.is_empty() {
            self.lock().free.append(frames);
        }
    }

    /// Notes `count` frames taken off an RX ring.
    pub fn received(&self, count: usize) {
        self.kernel_frames.fetch_sub(count as i64, Ordering::Relaxed);
    }

    /// Notes `count` frames put on a TX ring.
    pub fn sent(&self, count: usize) {
        self.kernel_frames.fetch_add(count as i64, Ordering::Relaxed);
    }

    /// `(accounted, total)`: the free frames plus those the kernel holds,
    /// and the UMEM's frames. Once the workers have stopped and given back
    /// what they held, the two are equal unless a frame was lost.
    pub fn accounting(&self) -> (u64, u64) {
        let accounted = self.lock().free.len() as i64 + self.kernel_frames.load(Ordering::Relaxed);
        (accounted.max(0) as u64, u64::from(FRAMES))
    }

    fn take_completed(&self, rings: &mut Rings) {
        let mut completed = [FrameDesc::default(); BATCH];
        loop {
            // SAFETY: the completion ring only returns this UMEM's frames.
            let count = unsafe { rings.completion.consume(&mut completed) };
            self.kernel_frames.fetch_sub(count as i64, Ordering::Relaxed);
            rings.free.extend_from_slice(&completed[..count]);
            if count < BATCH {
                break;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rings> {
        self.rings.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

type SocketParts = (TxQueue, RxQueue, Option<(FillQueue, CompQueue)>);

/// Binds an AF_XDP socket to `queue`. Binding right after a socket on the
/// same queue closed can fail with EBUSY for a few milliseconds: retried.
fn create_socket(
    config: SocketConfig,
    umem: &Umem,
    name: &Interface,
    interface: &str,
    queue: u32,
) -> Result<SocketParts, UserlandError> {
    let mut attempts = 50;
    loop {
        // SAFETY: every socket on this UMEM is created here, with the
        // prog-load flag inhibited as sharing requires.
        match unsafe { Socket::new(config, umem, name, queue) } {
            Ok(parts) => return Ok(parts),
            Err(source) if attempts == 1 => {
                return Err(UserlandError::Socket { interface: interface.to_owned(), queue, source });
            }
            Err(_) => attempts -= 1,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lets one TX wakeup send a whole batch, where the kernel allows it (older
/// kernels refuse the option; the worker then wakes the ring again while it
/// holds frames).
fn raise_tx_budget(rx: &RxQueue) {
    // SAFETY: an int option of the right size on a live socket.
    unsafe {
        libc::setsockopt(raw_fd(rx), SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &TX_BUDGET as *const i32 as *const libc::c_void, 4)
    };
}

/// How many RX queues `interface` has (as sysfs lists them; 1 if it cannot
/// be read).
pub fn rx_queue_count(interface: &str) -> u32 {
    let Ok(entries) = std::fs::read_dir(format!("/sys/class/net/{interface}/queues")) else { return 1 };
    let count =
        entries.filter_map(Result::ok).filter(|entry| entry.file_name().to_string_lossy().starts_with("rx-")).count();
    (count as u32).max(1)
}

/// The raw fd of a socket's RX queue.
pub fn raw_fd(rx: &RxQueue) -> RawFd {
    use std::os::fd::AsRawFd;
    rx.fd().as_raw_fd()
}
