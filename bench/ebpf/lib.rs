//! The benchmark's own eBPF programs: the traffic generator, the sink that
//! counts returning frames and their latency, and the baselines Galette is
//! compared with. Built by `galette-bench` at run time with galettec's eBPF
//! build (see `bench/src/ebpf.rs`).
#![no_std]

use aya_ebpf::bindings::xdp_action;
use aya_ebpf::helpers::{bpf_ktime_get_ns, bpf_redirect};
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::{Array, PerCpuArray};
use aya_ebpf::programs::XdpContext;

/// Where a benchmark frame's marker starts: after Ethernet, IPv4 and UDP
/// headers.
const MARK_OFFSET: usize = 42;
/// The marker that tells a benchmark frame from anything else on the link.
const MARK: u32 = 0x4741_4c42; // "GALB"
/// Where the send timestamp (ns, CLOCK_MONOTONIC) goes, after the marker.
const STAMP_OFFSET: usize = MARK_OFFSET + 4;
/// Histogram buckets: 32 per power of two of nanoseconds (see `bucket`).
const BUCKETS: u32 = 1152;

/// Slot 0: the interface index the generator sends out of.
#[map]
static GEN_CONFIG: Array<u32> = Array::with_max_entries(1, 0);

/// How many bytes of the frame the generator writes afresh every time.
const HEADER_BYTES: usize = 48;

/// Slot 0: the frame's first [`HEADER_BYTES`] bytes (Ethernet, IPv4 and UDP
/// headers, the marker, and two bytes of the timestamp, which is written
/// after them), as the generator sends them. A live-frames run
/// recycles each page with what the device under test left in it (swapped
/// addresses, a lower TTL), so every frame gets them back.
#[map]
static GEN_HEADER: Array<[u64; HEADER_BYTES / 8]> = Array::with_max_entries(1, 0);

/// The generator's pace: slot 0 the interval between frames in ns (0: as
/// fast as it goes), slot 1 when the next frame is due.
#[map]
static GEN_PACE: Array<u64> = Array::with_max_entries(2, 0);

/// Slot 0: frames the generator sent.
#[map]
static GEN_SENT: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Slot 0: benchmark frames received by the sink; 1: their bytes.
#[map]
static SINK_COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// Latency histogram of the benchmark frames the sink received.
#[map]
static SINK_LATENCY: PerCpuArray<u64> = PerCpuArray::with_max_entries(BUCKETS, 0);

/// Slot 0: the IPv4 TTL that marks a frame as the second class (a chain
/// that sends some frames through `std.ttl` marks them so: the sampler that
/// picks them is random, so the generator cannot know which they are);
/// 0: classes off.
#[map]
static SINK_CLASS: Array<u32> = Array::with_max_entries(1, 0);

/// Per class (0: unmarked, 1: marked): slot `class` the frames received.
#[map]
static SINK_CLASS_COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// Per class, a latency histogram like [`SINK_LATENCY`]: class `c`'s
/// buckets start at `c * BUCKETS`.
#[map]
static SINK_CLASS_LATENCY: PerCpuArray<u64> = PerCpuArray::with_max_entries(2 * BUCKETS, 0);

/// Buckets of the timeline: enough for 80 s in buckets of 10 ms.
const TIMELINE_BUCKETS: u32 = 8192;
/// Where the IPv4 TTL is: the mark a chain leaves on a frame.
const TTL_OFFSET: usize = 14 + 8;

/// The timeline, for experiments that need rates over time rather than one
/// total: slot 0 when it starts (ns, CLOCK_MONOTONIC, the clock of
/// `bpf_ktime_get_ns`; 0: off), slot 1 how long each bucket lasts (ns).
#[map]
static TIMELINE: Array<u64> = Array::with_max_entries(2, 0);

/// Frames the generator sent, per timeline bucket (by send time).
#[map]
static GEN_TIMELINE: PerCpuArray<u64> = PerCpuArray::with_max_entries(TIMELINE_BUCKETS, 0);

/// Benchmark frames the sink received, per timeline bucket (by arrival).
#[map]
static SINK_TIMELINE: PerCpuArray<u64> = PerCpuArray::with_max_entries(TIMELINE_BUCKETS, 0);

/// Benchmark frames the sink received, by their IPv4 TTL.
#[map]
static SINK_TTL: PerCpuArray<u64> = PerCpuArray::with_max_entries(256, 0);

/// Slot 0: frames `bench_drop` and `bench_slow_drop` dropped, per CPU:
/// where the device under test ran.
#[map]
static DROPPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The counters of the hand-written chain programs (`single_N`): packets,
/// bytes, like `std.counter`'s map.
#[map]
static TOTALS: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

#[inline(always)]
fn add(map: &PerCpuArray<u64>, index: u32, amount: u64) {
    if let Some(slot) = map.get_ptr_mut(index) {
        // SAFETY: this CPU's slot of a live entry; nothing else on this CPU
        // runs concurrently.
        unsafe { *slot += amount };
    }
}

/// The generator, run by BPF_PROG_TEST_RUN in live-frames mode: stamps each
/// frame with the time and sends it out of the generator's interface.
///
/// Paced here, in the kernel: a run before the next frame is due drops its
/// frame unsent (cheaply), so the test run spins until it is time. Pacing
/// from userland cannot work: each test run call costs milliseconds.
#[xdp]
pub fn bench_gen(ctx: XdpContext) -> u32 {
    if !due() {
        return xdp_action::XDP_DROP;
    }
    add(&GEN_SENT, 0, 1);
    let (data, end) = (ctx.data(), ctx.data_end());
    if data + STAMP_OFFSET + 8 > end {
        return xdp_action::XDP_ABORTED;
    }
    let Some(header) = GEN_HEADER.get(0) else { return xdp_action::XDP_ABORTED };
    for (index, word) in header.iter().enumerate() {
        // SAFETY: HEADER_BYTES is below STAMP_OFFSET + 8, checked above.
        unsafe { ((data + index * 8) as *mut u64).write_unaligned(*word) };
    }
    // SAFETY: a helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(slot) = timeline_bucket(now) {
        add(&GEN_TIMELINE, slot, 1);
    }
    // SAFETY: the check above keeps the write inside the frame.
    unsafe { ((data + STAMP_OFFSET) as *mut u64).write_unaligned(now) };
    let Some(&ifindex) = GEN_CONFIG.get(0) else { return xdp_action::XDP_ABORTED };
    // SAFETY: a helper without preconditions.
    unsafe { bpf_redirect(ifindex, 0) as u32 }
}

/// How late the generator may fall behind its schedule and catch up (in a
/// short burst): runs come in batches, between which the kernel does other
/// work, so the generator is always a little late. Further behind (after a
/// test run call's setup), the schedule starts again from now. At least
/// this long, or [`CATCH_UP_FRAMES`] intervals at low rates, where an
/// interrupt's pause would otherwise cost whole frames.
const CATCH_UP_NS: u64 = 100_000;
/// The most frames a catch-up burst sends back to back: well under a veth
/// ring (256 frames), so a burst never overflows the device under test.
const CATCH_UP_FRAMES: u64 = 32;

/// Whether the generator may send now, by its pace; if so, when the next
/// frame is due.
#[inline(always)]
fn due() -> bool {
    let Some(&interval) = GEN_PACE.get(0) else { return true };
    if interval == 0 {
        return true;
    }
    let Some(next) = GEN_PACE.get_ptr_mut(1) else { return true };
    // SAFETY: a helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    // SAFETY: a live entry; the generator runs on one CPU at a time.
    unsafe {
        if now < *next {
            return false;
        }
        let catch_up = if interval * CATCH_UP_FRAMES > CATCH_UP_NS { interval * CATCH_UP_FRAMES } else { CATCH_UP_NS };
        *next = if now - *next > catch_up { now + interval } else { *next + interval };
    }
    true
}

/// The sink, on the generator's interface: counts the benchmark frames that
/// come back and records their latency; lets anything else through.
#[xdp]
pub fn bench_sink(ctx: XdpContext) -> u32 {
    let (data, end) = (ctx.data(), ctx.data_end());
    if data + STAMP_OFFSET + 8 > end {
        return xdp_action::XDP_PASS;
    }
    // SAFETY: the check above keeps both reads inside the frame.
    let (mark, sent) = unsafe {
        (((data + MARK_OFFSET) as *const u32).read_unaligned(), ((data + STAMP_OFFSET) as *const u64).read_unaligned())
    };
    if mark != MARK.to_be() {
        return xdp_action::XDP_PASS;
    }
    // SAFETY: a helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    add(&SINK_COUNTS, 0, 1);
    add(&SINK_COUNTS, 1, (end - data) as u64);
    let latency_bucket = bucket(now.saturating_sub(sent));
    add(&SINK_LATENCY, latency_bucket, 1);
    if let Some(slot) = timeline_bucket(now) {
        add(&SINK_TIMELINE, slot, 1);
    }
    // SAFETY: TTL_OFFSET is inside the STAMP_OFFSET + 8 bytes checked above.
    let ttl = unsafe { *((data + TTL_OFFSET) as *const u8) };
    add(&SINK_TTL, u32::from(ttl), 1);
    let marked = SINK_CLASS.get(0).copied().unwrap_or(0);
    if marked != 0 {
        let class = u32::from(u32::from(ttl) == marked);
        add(&SINK_CLASS_COUNTS, class, 1);
        add(&SINK_CLASS_LATENCY, class * BUCKETS + latency_bucket, 1);
    }
    xdp_action::XDP_DROP
}

/// The timeline bucket of the time `now`, if the timeline is on and `now`
/// falls inside it.
#[inline(always)]
fn timeline_bucket(now: u64) -> Option<u32> {
    let start = *TIMELINE.get(0)?;
    let width = *TIMELINE.get(1)?;
    if start == 0 || width == 0 || now < start {
        return None;
    }
    let index = (now - start) / width;
    if index < u64::from(TIMELINE_BUCKETS) { Some(index as u32) } else { None }
}

/// The histogram bucket of a latency: exact below 32 ns, then 32 buckets per
/// power of two (about 3 % wide). `galette_bench::sink` inverts it.
#[inline(always)]
fn bucket(ns: u64) -> u32 {
    if ns < 32 {
        return ns as u32;
    }
    // The index of the highest bit set, by binary search: BPF has no
    // count-leading-zeros instruction.
    let mut log = 0u64;
    let mut rest = ns;
    for shift in [32u64, 16, 8, 4, 2, 1] {
        if rest >> shift != 0 {
            rest >>= shift;
            log += shift;
        }
    }
    let sub = (ns >> (log - 5)) & 31;
    let index = (log - 4) * 32 + sub;
    if index >= BUCKETS as u64 { BUCKETS - 1 } else { index as u32 }
}

/// Drops every frame, counting them: the device under test when the
/// generator's own ceiling is measured.
#[xdp]
pub fn bench_drop(_ctx: XdpContext) -> u32 {
    add(&DROPPED, 0, 1);
    xdp_action::XDP_DROP
}

/// Helper calls `bench_slow_drop` makes per frame: about a microsecond,
/// several times what the generator spends on a frame.
const SLOW_CALLS: u32 = 64;

/// Spends a fixed time on every frame, then drops it, counting it: a device
/// under test too slow for the rate it is offered, which must lose frames
/// rather than slow the generator down.
#[xdp]
pub fn bench_slow_drop(_ctx: XdpContext) -> u32 {
    for _ in 0..SLOW_CALLS {
        // SAFETY: a helper without preconditions.
        unsafe { bpf_ktime_get_ns() };
    }
    add(&DROPPED, 0, 1);
    xdp_action::XDP_DROP
}

/// Lets every frame through: on a veth whose frames a userland forwarder
/// reads (redirected frames only reach a veth that runs XDP).
#[xdp]
pub fn bench_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// The baseline reflector: a hand-written XDP macswap.
#[xdp]
pub fn bench_macswap(ctx: XdpContext) -> u32 {
    let (data, end) = (ctx.data(), ctx.data_end());
    if data + 12 > end {
        return xdp_action::XDP_DROP;
    }
    // SAFETY: the check above keeps all twelve bytes inside the frame.
    unsafe {
        let bytes = data as *mut [u8; 6];
        let (dst, src) = (bytes.read_unaligned(), bytes.add(1).read_unaligned());
        bytes.write_unaligned(src);
        bytes.add(1).write_unaligned(dst);
    }
    xdp_action::XDP_TX
}

/// What a chain of `N` `std.counter` instances does, in one hand-written
/// program: `N` times, count the packet and its bytes.
#[inline(always)]
fn count_n<const N: usize>(ctx: &XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    for _ in 0..N {
        add(&TOTALS, 0, 1);
        add(&TOTALS, 1, len);
    }
    xdp_action::XDP_TX
}

#[xdp]
pub fn single_1(ctx: XdpContext) -> u32 {
    count_n::<1>(&ctx)
}

#[xdp]
pub fn single_4(ctx: XdpContext) -> u32 {
    count_n::<4>(&ctx)
}

#[xdp]
pub fn single_8(ctx: XdpContext) -> u32 {
    count_n::<8>(&ctx)
}

#[xdp]
pub fn single_32(ctx: XdpContext) -> u32 {
    count_n::<32>(&ctx)
}

#[xdp]
pub fn single_64(ctx: XdpContext) -> u32 {
    count_n::<64>(&ctx)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The kernel only lets GPL-compatible programs use some helpers.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
