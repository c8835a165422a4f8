//! The map types in XDP: the kernel's maps, declared as statics by the
//! generated code (`static M: Hash<K, V> = Hash::with_max_entries(1024);`).

use aya_ebpf::maps::lpm_trie::Key;
use aya_ebpf::maps::{
    Array as KernelArray, HashMap as KernelHash, LpmTrie as KernelLpmTrie, LruHashMap as KernelLruHash,
    PerCpuArray as KernelPercpuArray, PerCpuHashMap as KernelPercpuHash,
};

use super::{LpmKey, MapError, PlainData};

fn errno(code: i64) -> MapError {
    MapError { errno: -(code as i32) }
}

macro_rules! keyed_map {
    ($(#[$doc:meta])* $name:ident, $kernel:ident) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name<K, V>($kernel<K, V>);

        impl<K: PlainData, V: PlainData> $name<K, V> {
            /// A map definition for the generated code's statics.
            pub const fn with_max_entries(max_entries: u32) -> Self {
                $name($kernel::with_max_entries(max_entries, 0))
            }

            /// The value of `key`, if it has one.
            #[inline(always)]
            pub fn get(&self, key: &K) -> Option<V> {
                // SAFETY: the value is copied out at once; no reference to
                // the map's memory outlives this call.
                unsafe { self.0.get(key) }.copied()
            }

            /// Sets `key` to `value`.
            #[inline(always)]
            pub fn insert(&self, key: &K, value: &V) -> Result<(), MapError> {
                self.0.insert(key, value, 0).map_err(errno)
            }

            /// Changes the value of `key` in place with `change`: one
            /// lookup, where [`insert`](Self::insert) is an update (which,
            /// for an LRU map, takes its locks and may evict). Fails with
            /// [`MapError::NOT_FOUND`] when `key` has no value.
            #[inline(always)]
            pub fn modify(&self, key: &K, change: impl FnOnce(&mut V)) -> Result<(), MapError> {
                let slot = self.0.get_ptr_mut(key).ok_or(MapError::NOT_FOUND)?;
                // SAFETY: the pointer is to the live value of `key`, of type
                // V; the map keeps it until the program returns.
                change(unsafe { &mut *slot });
                Ok(())
            }

            /// Removes `key`.
            #[inline(always)]
            pub fn remove(&self, key: &K) -> Result<(), MapError> {
                self.0.remove(key).map_err(errno)
            }
        }
    };
}

keyed_map!(
    /// A hash map (`hash` in a chain).
    Hash, KernelHash
);
keyed_map!(
    /// A hash map that evicts the least recently used entry when full.
    LruHash, KernelLruHash
);
keyed_map!(
    /// A hash map with one value per CPU.
    PercpuHash, KernelPercpuHash
);

macro_rules! array_map {
    ($(#[$doc:meta])* $name:ident, $kernel:ident) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name<V>($kernel<V>);

        impl<V: PlainData> $name<V> {
            /// A map definition for the generated code's statics.
            pub const fn with_max_entries(max_entries: u32) -> Self {
                $name($kernel::with_max_entries(max_entries, 0))
            }

            /// The value at `index`; `None` past the end.
            #[inline(always)]
            pub fn get(&self, index: u32) -> Option<V> {
                // SAFETY: the pointer is to a live array slot; copied at once.
                self.0.get_ptr(index).map(|value| unsafe { *value })
            }

            /// Sets the value at `index`.
            #[inline(always)]
            pub fn insert(&self, index: u32, value: &V) -> Result<(), MapError> {
                let slot = self.0.get_ptr_mut(index).ok_or(MapError::NOT_FOUND)?;
                // SAFETY: the pointer is to a live array slot of type V.
                unsafe { *slot = *value };
                Ok(())
            }

            /// Changes the value at `index` in place with `change`: one
            /// lookup, where [`get`](Self::get) then
            /// [`insert`](Self::insert) make two. Fails with
            /// [`MapError::NOT_FOUND`] past the end.
            #[inline(always)]
            pub fn modify(&self, index: u32, change: impl FnOnce(&mut V)) -> Result<(), MapError> {
                let slot = self.0.get_ptr_mut(index).ok_or(MapError::NOT_FOUND)?;
                // SAFETY: the pointer is to a live array slot of type V.
                change(unsafe { &mut *slot });
                Ok(())
            }

            /// Arrays keep every index: removing fails with
            /// [`MapError::INVALID`], as in the kernel.
            #[inline(always)]
            pub fn remove(&self, _index: u32) -> Result<(), MapError> {
                Err(MapError::INVALID)
            }
        }
    };
}

array_map!(
    /// An array indexed from 0.
    Array, KernelArray
);
array_map!(
    /// An array with one value per CPU.
    PercpuArray, KernelPercpuArray
);

/// A longest-prefix-match trie.
#[repr(transparent)]
pub struct LpmTrie<K: LpmKey, V>(KernelLpmTrie<K::Data, V>);

impl<K: LpmKey, V: PlainData> LpmTrie<K, V> {
    /// A map definition for the generated code's statics.
    pub const fn with_max_entries(max_entries: u32) -> Self {
        LpmTrie(KernelLpmTrie::with_max_entries(max_entries, 0))
    }

    /// The value of the longest stored prefix containing `key`.
    #[inline(always)]
    pub fn get(&self, key: &K) -> Option<V> {
        self.0.get(&Key::new(key.prefix_len(), key.data())).copied()
    }

    /// Stores `value` for the prefix `key`.
    #[inline(always)]
    pub fn insert(&self, key: &K, value: &V) -> Result<(), MapError> {
        self.0.insert(&Key::new(key.prefix_len(), key.data()), value, 0).map_err(errno)
    }

    /// Removes the prefix `key`.
    #[inline(always)]
    pub fn remove(&self, key: &K) -> Result<(), MapError> {
        self.0.remove(&Key::new(key.prefix_len(), key.data())).map_err(errno)
    }
}
