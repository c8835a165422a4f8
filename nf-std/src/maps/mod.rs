//! Maps: state an NF keeps between packets, shared with the rest of the chain.
//!
//! An NF names the maps it uses in a struct marked [`maps`](macro@crate::maps)
//! (`Maps` by convention; any name works):
//!
//! ```
//! use nf_std::maps::{Array, Ipv4Prefix, LpmTrie};
//!
//! #[nf_std::maps]
//! pub struct Maps {
//!     allow: LpmTrie<Ipv4Prefix, u8>,
//!     hits: Array<u64>,
//! }
//! # #[cfg(feature = "std")]
//! # fn main() {
//! # use nf_std::maps::memory_map;
//!
//! // The fields are `&'static` references now: to the chain's maps in the
//! // generated code, to in-memory maps in a host test (feature `std`).
//! let maps = Maps { allow: memory_map(16), hits: memory_map(2) };
//! maps.allow.insert(&Ipv4Prefix::new([198, 18, 0, 0], 15), &1).unwrap();
//! assert_eq!(maps.allow.get(&Ipv4Prefix::host([198, 19, 0, 7])), Some(1));
//! assert_eq!(maps.allow.get(&Ipv4Prefix::host([192, 0, 2, 1])), None);
//! assert_eq!(maps.hits.get(1), Some(0), "an array has every index, zero until written");
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! and a chain binds each field to one of its maps (`{ allow: allow_list }`).
//! The map types below have the same methods in XDP and in userland: in XDP
//! they are the kernel maps themselves; natively they reach a map through a
//! [`RawMap`] (the kernel's map in the runtime, memory in host tests).
//!
//! Keys and values cross the kernel boundary as bytes, so they must be
//! [`PlainData`].

#[cfg(target_arch = "bpf")]
mod xdp;
#[cfg(target_arch = "bpf")]
pub use xdp::{Array, Hash, LpmTrie, LruHash, PercpuArray, PercpuHash};

#[cfg(not(target_arch = "bpf"))]
mod native;
#[cfg(not(target_arch = "bpf"))]
pub use native::{Array, FromRawMap, Hash, LpmTrie, LruHash, MapKind, PercpuArray, PercpuHash, RawMap};

// Also in nf-std's own tests, which need no feature to run.
#[cfg(any(test, all(feature = "std", not(target_arch = "bpf"))))]
mod memory;
#[cfg(any(test, all(feature = "std", not(target_arch = "bpf"))))]
pub use memory::{MemoryMap, memory_map};

/// Why a map operation failed: the kernel's errno (e.g. `E2BIG` when full,
/// `ENOENT` when removing a missing key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapError {
    pub errno: i32,
}

impl MapError {
    /// `ENOENT`: no such key.
    pub const NOT_FOUND: MapError = MapError { errno: 2 };
    /// `E2BIG`: the map is full.
    pub const FULL: MapError = MapError { errno: 7 };
    /// `EINVAL`: the operation does not apply (e.g. removing from an array).
    pub const INVALID: MapError = MapError { errno: 22 };
}

/// Types whose every bit pattern is a valid value and that hold no pointers:
/// what can be copied in and out of a kernel map as bytes.
///
/// # Safety
/// Implement it only for `Copy` types with a stable layout (`#[repr(C)]` or
/// primitive), no padding bytes that matter, no references or pointers, and no
/// invalid bit patterns (so no `bool`, `char` or enums).
pub unsafe trait PlainData: Copy + 'static {}

macro_rules! plain_data {
    ($($ty:ty),*) => { $(
        // SAFETY: primitive integers accept every bit pattern.
        unsafe impl PlainData for $ty {}
    )* };
}
plain_data!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

// SAFETY: an array of plain data is plain data.
unsafe impl<T: PlainData, const N: usize> PlainData for [T; N] {}

/// A key of an [`LpmTrie`]: a prefix length in bits and the data it applies to.
pub trait LpmKey: PlainData {
    /// The address (or other data) the prefix is a prefix of.
    type Data: PlainData;
    fn prefix_len(&self) -> u32;
    fn data(&self) -> Self::Data;
}

/// An IPv4 prefix, `addr/len`, as the key of an [`LpmTrie`]. The address is
/// in network byte order, as it is in the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Ipv4Prefix {
    pub len: u32,
    pub addr: [u8; 4],
}

/// An IPv6 prefix, `addr/len`, as the key of an [`LpmTrie`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Ipv6Prefix {
    pub len: u32,
    pub addr: [u8; 16],
}

const _: () = assert!(core::mem::size_of::<Ipv4Prefix>() == 8);
const _: () = assert!(core::mem::size_of::<Ipv6Prefix>() == 20);

// SAFETY: repr(C), an integer and a byte array, no padding.
unsafe impl PlainData for Ipv4Prefix {}
// SAFETY: repr(C), an integer and a byte array, no padding.
unsafe impl PlainData for Ipv6Prefix {}

impl Ipv4Prefix {
    /// The prefix `addr/len`.
    pub const fn new(addr: [u8; 4], len: u32) -> Ipv4Prefix {
        Ipv4Prefix { len, addr }
    }

    /// The key to look up one address: a /32.
    pub const fn host(addr: [u8; 4]) -> Ipv4Prefix {
        Ipv4Prefix { len: 32, addr }
    }
}

impl Ipv6Prefix {
    /// The prefix `addr/len`.
    pub const fn new(addr: [u8; 16], len: u32) -> Ipv6Prefix {
        Ipv6Prefix { len, addr }
    }

    /// The key to look up one address: a /128.
    pub const fn host(addr: [u8; 16]) -> Ipv6Prefix {
        Ipv6Prefix { len: 128, addr }
    }
}

impl LpmKey for Ipv4Prefix {
    type Data = [u8; 4];
    fn prefix_len(&self) -> u32 {
        self.len
    }
    fn data(&self) -> [u8; 4] {
        self.addr
    }
}

impl LpmKey for Ipv6Prefix {
    type Data = [u8; 16];
    fn prefix_len(&self) -> u32 {
        self.len
    }
    fn data(&self) -> [u8; 16] {
        self.addr
    }
}

/// A source (or any) IP address as a map key, for NFs that keep state per
/// address (`std.classifier`, `std.rate_limit`).
///
/// `addr` is in network order; an IPv4 address fills its first 4 bytes and
/// the other 12 are zero, and `ip_version` (4 or 6) tells the two apart, so
/// 198.18.0.1 and the IPv6 address c612:0001:: are different keys.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SourceKey {
    /// The address, network order (IPv4 in the first 4 bytes).
    pub addr: [u8; 16],
    /// 4 or 6.
    pub ip_version: u8,
    /// Always zero: the padding made explicit, so equal keys are equal bytes.
    pub reserved: [u8; 3],
}

// 16 + 1 + 3 bytes, all of alignment 1: no padding anywhere.
const _: () = assert!(core::mem::size_of::<SourceKey>() == 20);
const _: () = assert!(core::mem::align_of::<SourceKey>() == 1);

// SAFETY: `#[repr(C)]`, only byte arrays and a byte, no padding (asserted
// above), no pointers, and every bit pattern is a valid `SourceKey`.
unsafe impl PlainData for SourceKey {}

impl SourceKey {
    /// The key of an IPv4 address.
    #[inline(always)]
    pub fn v4(addr: [u8; 4]) -> SourceKey {
        let [a, b, c, d] = addr;
        SourceKey { addr: [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], ip_version: 4, reserved: [0; 3] }
    }

    /// The key of an IPv6 address.
    #[inline(always)]
    pub fn v6(addr: [u8; 16]) -> SourceKey {
        SourceKey { addr, ip_version: 6, reserved: [0; 3] }
    }
}
