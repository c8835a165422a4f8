//! The shared part of every chain's XDP object (see the crate's docs).

use aya_ebpf::bindings::xdp_action;
use aya_ebpf::helpers::{bpf_get_prandom_u32, bpf_xdp_adjust_meta};
use aya_ebpf::macros::map;
use aya_ebpf::maps::{Array, DevMap, HashMap, PerCpuArray, ProgramArray, XskMap};
use aya_ebpf::programs::XdpContext;

/// How many interface roles a chain may have (`galette_bundle::MAX_ROLES`).
const MAX_ROLES: u32 = 16;
/// Worker sockets per interface (`galette_bundle::MAX_WORKERS`).
const MAX_WORKERS: u32 = 64;
/// The slot of [`GALETTE_CONFIG`] with how many worker sockets there are per
/// interface and queue (`galette_bundle::CONFIG_WORKERS`).
const CONFIG_WORKERS: u32 = 0;
/// The slot of [`GALETTE_CONFIG`] with this object's generation
/// (`galette_bundle::CONFIG_GENERATION`).
const CONFIG_GENERATION: u32 = 1;
/// The size of `galette_bundle::UpcallMetadata`.
const UPCALL_METADATA_LEN: i32 = 8;
/// The entry of the counters map the XDP programs count in
/// (`galette_bundle::STATS_XDP_ENTRY`).
const STATS_XDP_ENTRY: u32 = 0;
/// The chain's drops, by `galette_bundle::DropReason`: counted at the
/// chain's first drop slot (`drops`, given by the caller) plus these.
const DROP_NO_WORKERS: usize = 0;
const DROP_NO_SOCKET: usize = 1;
const DROP_NO_METADATA_ROOM: usize = 2;
const DROP_NO_INTERFACE: usize = 3;

/// The userland workers' AF_XDP sockets, `MAX_WORKERS` slots per interface;
/// filled by the runtime.
#[map]
pub static GALETTE_XSKS: XskMap = XskMap::with_max_entries(MAX_ROLES * MAX_WORKERS, 0);

/// Per interface index, its first slot in [`GALETTE_XSKS`]; filled by the
/// runtime.
#[map]
pub static GALETTE_XSK_BASES: HashMap<u32, u32> = HashMap::with_max_entries(MAX_ROLES, 0);

/// Per interface role, the interface it runs on; filled by the runtime
/// (`--iface ROLE=IF`).
#[map]
pub static GALETTE_DEVS: DevMap = DevMap::with_max_entries(MAX_ROLES, 0);

/// Run-time settings: how many worker sockets there are, and which load of
/// the chain this object is.
#[map]
pub static GALETTE_CONFIG: Array<u32> = Array::with_max_entries(2, 0);

/// This CPU's counters of the chain: the one map lookup a segment makes per
/// packet. `None` only if the map has no XDP entry, which the runtime never
/// creates.
#[inline(always)]
pub fn counters<const SLOTS: usize>(stats: &PerCpuArray<[u64; SLOTS]>) -> Option<&'static mut [u64; SLOTS]> {
    let counters = stats.get_ptr_mut(STATS_XDP_ENTRY)?;
    // SAFETY: the pointer is to this CPU's copy of a live map value; an XDP
    // program runs to its end on one CPU without another program of this
    // CPU in between, so nothing else touches it while the packet runs.
    Some(unsafe { &mut *counters })
}

/// Tail-calls the segment at `index` of `programs`, a constant at every call
/// site: the kernel then patches a direct jump in. Returns only when the
/// tail call failed; the caller counts that and drops the packet.
#[inline(always)]
pub fn jump(ctx: &XdpContext, programs: &ProgramArray, index: u32) {
    // SAFETY: a tail call either jumps (never returns) or fails and
    // returns; the context is the program's own.
    let _ = unsafe { programs.tail_call(ctx, index) };
}

/// Counts a drop for `reason` (one of the `DROP_*` offsets) in the chain's
/// drop slots, which start at `drops`.
#[inline(always)]
fn dropped<const SLOTS: usize>(counters: &mut [u64; SLOTS], drops: usize, reason: usize) -> u32 {
    if let Some(count) = counters.get_mut(drops + reason) {
        *count += 1;
    }
    xdp_action::XDP_DROP
}

/// Sends the packet out of the interface of `role`, or drops it (and
/// counts that at `drops`) when the runtime has no interface for that role.
#[inline(always)]
pub fn redirect<const SLOTS: usize>(counters: &mut [u64; SLOTS], drops: usize, role: u32) -> u32 {
    match GALETTE_DEVS.redirect(role, 0) {
        Ok(action) => action,
        Err(_) => dropped(counters, drops, DROP_NO_INTERFACE),
    }
}

/// Hands the packet to userland: writes `galette_bundle::UpcallMetadata`
/// (the instance to run next, this object's generation, `from`: the counter
/// slot of the port that sent it up) in front of the frame and redirects it
/// into one of the AF_XDP sockets of the interface and RX queue it came in
/// on, chosen at random. A packet that cannot go up is dropped, and counted
/// at `drops` by why.
#[inline(always)]
pub fn upcall<const SLOTS: usize>(
    ctx: &XdpContext,
    counters: &mut [u64; SLOTS],
    drops: usize,
    instance: u16,
    from: u32,
) -> u32 {
    let workers = match GALETTE_CONFIG.get(CONFIG_WORKERS) {
        Some(&workers) if workers > 0 => workers,
        _ => return dropped(counters, drops, DROP_NO_WORKERS),
    };
    let generation = GALETTE_CONFIG.get(CONFIG_GENERATION).copied().unwrap_or(0);
    // SAFETY: a helper given the program's own context.
    if unsafe { bpf_xdp_adjust_meta(ctx.ctx, -UPCALL_METADATA_LEN) } != 0 {
        return dropped(counters, drops, DROP_NO_METADATA_ROOM);
    }
    let (meta, data) = (ctx.metadata(), ctx.data());
    if meta + UPCALL_METADATA_LEN as usize > data {
        return dropped(counters, drops, DROP_NO_METADATA_ROOM);
    }
    // SAFETY: the check above proves all three fields lie between the
    // metadata's start and the frame's start.
    unsafe {
        *(meta as *mut u16) = instance;
        *((meta + 2) as *mut u16) = generation as u16;
        *((meta + 4) as *mut u32) = from;
    }
    // SAFETY: the context is the program's own, valid for its run.
    let (ingress, queue) = unsafe { ((*ctx.ctx).ingress_ifindex, (*ctx.ctx).rx_queue_index) };
    // SAFETY: the value is a plain u32 the runtime wrote.
    let Some(&first) = (unsafe { GALETTE_XSK_BASES.get(&ingress) }) else {
        return dropped(counters, drops, DROP_NO_SOCKET);
    };
    // The kernel delivers only to a socket bound to the packet's own queue:
    // the interface's sockets are `workers` per queue.
    // SAFETY: a helper without preconditions.
    let socket = first + queue * workers + unsafe { bpf_get_prandom_u32() } % workers;
    match GALETTE_XSKS.redirect(socket, 0) {
        Ok(action) => action,
        Err(_) => dropped(counters, drops, DROP_NO_SOCKET),
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // NF code is bounds-checked without panicking paths; the verifier would
    // reject a program that could reach this loop.
    loop {}
}

/// The kernel only lets GPL-compatible programs use some helpers.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
pub static LICENSE: [u8; 4] = *b"GPL\0";
