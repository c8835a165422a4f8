//! The map types natively (userland and host tests): typed views over a
//! [`RawMap`], which moves keys and values as bytes.

use core::marker::PhantomData;
use core::mem::{MaybeUninit, size_of};

use super::{LpmKey, MapError, PlainData};

/// A map's storage, seen as bytes: the kernel's map (through the bpf
/// syscall, in the runtime) or memory (in host tests). Keys and values have
/// the sizes of the map's types.
pub trait RawMap: Sync {
    /// Copies the value of `key` into `value`; false if there is none.
    fn lookup(&self, key: &[u8], value: &mut [u8]) -> bool;
    /// Sets `key` to `value`, adding it if needed.
    fn update(&self, key: &[u8], value: &[u8]) -> Result<(), MapError>;
    /// Removes `key`.
    fn delete(&self, key: &[u8]) -> Result<(), MapError>;
}

/// The kernel map type behind each map type; what a [`RawMap`] must emulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Array,
    Hash,
    LruHash,
    LpmTrie,
    PercpuArray,
    PercpuHash,
}

/// Map types that can be built over a [`RawMap`].
pub trait FromRawMap {
    const KIND: MapKind;
    /// Size of a key in bytes (an LPM key includes its 4-byte prefix length).
    const KEY_SIZE: usize;
    const VALUE_SIZE: usize;
    fn from_raw(raw: &'static dyn RawMap) -> Self;
}

fn bytes_of<T: PlainData>(value: &T) -> &[u8] {
    // SAFETY: `T` is plain data: all its bytes may be read, and the slice
    // lives no longer than the borrow of `value`.
    unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

fn read_value<V: PlainData>(raw: &dyn RawMap, key: &[u8]) -> Option<V> {
    let mut value = MaybeUninit::<V>::zeroed();
    // SAFETY: zeroed memory of `size_of::<V>()` bytes, exclusively borrowed.
    let bytes = unsafe { core::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<V>()) };
    if !raw.lookup(key, bytes) {
        return None;
    }
    // SAFETY: `V` is plain data, so any bytes the map wrote are a valid `V`.
    Some(unsafe { value.assume_init() })
}

/// The bytes of an LPM key as the kernel lays it out: a host-order `u32`
/// prefix length, then the data, packed.
#[repr(C, packed)]
#[derive(Clone, Copy)]
struct LpmKeyBytes<D> {
    prefix_len: u32,
    data: D,
}

// SAFETY: packed, made of a u32 and plain data: no padding, no invalid bits.
unsafe impl<D: PlainData> PlainData for LpmKeyBytes<D> {}

macro_rules! keyed_map {
    ($(#[$doc:meta])* $name:ident, $kind:ident) => {
        $(#[$doc])*
        pub struct $name<K, V> {
            raw: &'static dyn RawMap,
            _types: PhantomData<fn() -> (K, V)>,
        }

        impl<K: PlainData, V: PlainData> FromRawMap for $name<K, V> {
            const KIND: MapKind = MapKind::$kind;
            const KEY_SIZE: usize = size_of::<K>();
            const VALUE_SIZE: usize = size_of::<V>();
            fn from_raw(raw: &'static dyn RawMap) -> Self {
                $name { raw, _types: PhantomData }
            }
        }

        impl<K: PlainData, V: PlainData> $name<K, V> {
            /// The value of `key`, if it has one.
            pub fn get(&self, key: &K) -> Option<V> {
                read_value(self.raw, bytes_of(key))
            }

            /// Sets `key` to `value`.
            pub fn insert(&self, key: &K, value: &V) -> Result<(), MapError> {
                self.raw.update(bytes_of(key), bytes_of(value))
            }

            /// Changes the value of `key` with `change` (in XDP, in place
            /// with one lookup; here a read, then a write). Fails with
            /// [`MapError::NOT_FOUND`] when `key` has no value.
            pub fn modify(&self, key: &K, change: impl FnOnce(&mut V)) -> Result<(), MapError> {
                let mut value: V = read_value(self.raw, bytes_of(key)).ok_or(MapError::NOT_FOUND)?;
                change(&mut value);
                self.raw.update(bytes_of(key), bytes_of(&value))
            }

            /// Removes `key`.
            pub fn remove(&self, key: &K) -> Result<(), MapError> {
                self.raw.delete(bytes_of(key))
            }
        }
    };
}

keyed_map!(
    /// A hash map (`hash` in a chain).
    Hash, Hash
);
keyed_map!(
    /// A hash map that evicts the least recently used entry when full
    /// (`lru_hash`).
    LruHash, LruHash
);
keyed_map!(
    /// A hash map with one value per CPU (`percpu_hash`); an NF sees the
    /// value of the CPU it runs on.
    PercpuHash, PercpuHash
);

macro_rules! array_map {
    ($(#[$doc:meta])* $name:ident, $kind:ident) => {
        $(#[$doc])*
        pub struct $name<V> {
            raw: &'static dyn RawMap,
            _types: PhantomData<fn() -> V>,
        }

        impl<V: PlainData> FromRawMap for $name<V> {
            const KIND: MapKind = MapKind::$kind;
            const KEY_SIZE: usize = size_of::<u32>();
            const VALUE_SIZE: usize = size_of::<V>();
            fn from_raw(raw: &'static dyn RawMap) -> Self {
                $name { raw, _types: PhantomData }
            }
        }

        impl<V: PlainData> $name<V> {
            /// The value at `index`; `None` past the end.
            pub fn get(&self, index: u32) -> Option<V> {
                read_value(self.raw, bytes_of(&index))
            }

            /// Sets the value at `index`.
            pub fn insert(&self, index: u32, value: &V) -> Result<(), MapError> {
                self.raw.update(bytes_of(&index), bytes_of(value))
            }

            /// Changes the value at `index` with `change` (in XDP, in place
            /// with one lookup; here a read, then a write). Fails with
            /// [`MapError::NOT_FOUND`] past the end.
            pub fn modify(&self, index: u32, change: impl FnOnce(&mut V)) -> Result<(), MapError> {
                let mut value: V = read_value(self.raw, bytes_of(&index)).ok_or(MapError::NOT_FOUND)?;
                change(&mut value);
                self.raw.update(bytes_of(&index), bytes_of(&value))
            }

            /// Arrays keep every index: removing fails with
            /// [`MapError::INVALID`], as in the kernel.
            pub fn remove(&self, _index: u32) -> Result<(), MapError> {
                Err(MapError::INVALID)
            }
        }
    };
}

array_map!(
    /// An array indexed from 0 (`array` in a chain, key type `u32`).
    Array, Array
);
array_map!(
    /// An array with one value per CPU (`percpu_array`).
    PercpuArray, PercpuArray
);

/// A longest-prefix-match trie (`lpm_trie`): `get` finds the longest stored
/// prefix that contains the key's data.
pub struct LpmTrie<K, V> {
    raw: &'static dyn RawMap,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: LpmKey, V: PlainData> FromRawMap for LpmTrie<K, V> {
    const KIND: MapKind = MapKind::LpmTrie;
    const KEY_SIZE: usize = size_of::<LpmKeyBytes<K::Data>>();
    const VALUE_SIZE: usize = size_of::<V>();
    fn from_raw(raw: &'static dyn RawMap) -> Self {
        LpmTrie { raw, _types: PhantomData }
    }
}

impl<K: LpmKey, V: PlainData> LpmTrie<K, V> {
    fn key_bytes(key: &K) -> LpmKeyBytes<K::Data> {
        LpmKeyBytes { prefix_len: key.prefix_len(), data: key.data() }
    }

    /// The value of the longest stored prefix containing `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        read_value(self.raw, bytes_of(&Self::key_bytes(key)))
    }

    /// Stores `value` for the prefix `key`.
    pub fn insert(&self, key: &K, value: &V) -> Result<(), MapError> {
        self.raw.update(bytes_of(&Self::key_bytes(key)), bytes_of(value))
    }

    /// Removes the prefix `key` (exactly that prefix).
    pub fn remove(&self, key: &K) -> Result<(), MapError> {
        self.raw.delete(bytes_of(&Self::key_bytes(key)))
    }
}
