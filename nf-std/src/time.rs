//! A clock and random numbers, the same call in XDP and natively.

/// Nanoseconds of a monotonic clock (CLOCK_MONOTONIC: the kernel's
/// `bpf_ktime_get_ns` in XDP), for rates and timeouts. Not wall-clock time.
#[inline(always)]
pub fn now_ns() -> u64 {
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: a helper without arguments or preconditions.
        unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() }
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid timespec to write to.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
    }
}

/// A pseudo-random number (the kernel's `bpf_get_prandom_u32` in XDP): for
/// sampling and load balancing, not for cryptography.
#[inline(always)]
pub fn random_u32() -> u32 {
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: a helper without arguments or preconditions.
        unsafe { aya_ebpf::helpers::bpf_get_prandom_u32() }
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        native_random()
    }
}

/// splitmix64 over a shared atomic state, seeded from the clock on first use.
#[cfg(not(target_arch = "bpf"))]
fn native_random() -> u32 {
    use core::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
    let _ = STATE.compare_exchange(0, now_ns() | 1, Ordering::Relaxed, Ordering::Relaxed);
    let mut z = STATE.fetch_add(GAMMA, Ordering::Relaxed).wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_does_not_go_back() {
        let before = now_ns();
        assert!(now_ns() >= before);
    }

    #[test]
    fn random_numbers_vary() {
        let draws: [u32; 8] = core::array::from_fn(|_| random_u32());
        assert!(draws.iter().any(|&d| d != draws[0]));
    }
}
