//! Maps in memory, for NF authors' host tests: the semantics of each kernel
//! map kind (capacity, LRU eviction, longest-prefix match), without a kernel.
//! Only with the `std` feature.

extern crate std;

use std::boxed::Box;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::vec::Vec;

use super::MapError;
use super::native::{FromRawMap, MapKind, RawMap};

/// A map held in memory. A per-CPU kind behaves as if there were one CPU.
pub struct MemoryMap {
    kind: MapKind,
    capacity: usize,
    key_size: usize,
    value_size: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Key bytes → (value bytes, last use), the use clock driving LRU eviction.
    entries: BTreeMap<Vec<u8>, (Vec<u8>, u64)>,
    clock: u64,
}

impl MemoryMap {
    pub fn new(kind: MapKind, capacity: u32, key_size: usize, value_size: usize) -> MemoryMap {
        MemoryMap { kind, capacity: capacity as usize, key_size, value_size, state: Mutex::new(State::default()) }
    }

    fn is_array(&self) -> bool {
        matches!(self.kind, MapKind::Array | MapKind::PercpuArray)
    }

    fn array_index(&self, key: &[u8]) -> Option<usize> {
        let index = u32::from_ne_bytes(key.try_into().ok()?) as usize;
        (index < self.capacity).then_some(index)
    }

    /// The stored key that answers a lookup of `key`: itself, or for an LPM
    /// trie the longest stored prefix containing it.
    fn matching_key(&self, entries: &BTreeMap<Vec<u8>, (Vec<u8>, u64)>, key: &[u8]) -> Option<Vec<u8>> {
        if self.kind != MapKind::LpmTrie {
            return entries.contains_key(key).then(|| key.to_vec());
        }
        let (query_len, query_data) = split_lpm_key(key)?;
        entries
            .keys()
            .filter_map(|stored| {
                let (len, data) = split_lpm_key(stored)?;
                (len <= query_len && prefix_matches(data, query_data, len)).then_some((len, stored))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, stored)| stored.clone())
    }
}

fn split_lpm_key(key: &[u8]) -> Option<(u32, &[u8])> {
    let (len, data) = key.split_first_chunk::<4>()?;
    Some((u32::from_ne_bytes(*len), data))
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn prefix_matches(a: &[u8], b: &[u8], bits: u32) -> bool {
    let bits = bits as usize;
    if bits > a.len() * 8 || a.len() != b.len() {
        return false;
    }
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

impl RawMap for MemoryMap {
    fn lookup(&self, key: &[u8], value: &mut [u8]) -> bool {
        if key.len() != self.key_size || value.len() != self.value_size {
            return false;
        }
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.is_array() {
            if self.array_index(key).is_none() {
                return false;
            }
            // An array slot that was never written reads as zeros.
            match state.entries.get(key) {
                Some((stored, _)) => value.copy_from_slice(stored),
                None => value.fill(0),
            }
            return true;
        }
        let Some(found) = self.matching_key(&state.entries, key) else { return false };
        state.clock += 1;
        let clock = state.clock;
        let (stored, last_use) = state.entries.get_mut(&found).expect("matching_key returns a stored key");
        *last_use = clock;
        value.copy_from_slice(stored);
        true
    }

    fn update(&self, key: &[u8], value: &[u8]) -> Result<(), MapError> {
        if key.len() != self.key_size || value.len() != self.value_size {
            return Err(MapError::INVALID);
        }
        if self.is_array() && self.array_index(key).is_none() {
            return Err(MapError::NOT_FOUND);
        }
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let full = !self.is_array() && state.entries.len() >= self.capacity && !state.entries.contains_key(key);
        if full {
            if self.kind != MapKind::LruHash {
                return Err(MapError::FULL);
            }
            let oldest = state.entries.iter().min_by_key(|(_, (_, last_use))| *last_use).map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                state.entries.remove(&oldest);
            }
        }
        state.clock += 1;
        let clock = state.clock;
        state.entries.insert(key.to_vec(), (value.to_vec(), clock));
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        if self.is_array() {
            return Err(MapError::INVALID);
        }
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.entries.remove(key).map(|_| ()).ok_or(MapError::NOT_FOUND)
    }
}

/// A new in-memory map of type `M` holding up to `capacity` entries, for a
/// test's `Maps` struct. It lives as long as the test process.
pub fn memory_map<M: FromRawMap>(capacity: u32) -> &'static M {
    let raw: &'static MemoryMap = Box::leak(Box::new(MemoryMap::new(M::KIND, capacity, M::KEY_SIZE, M::VALUE_SIZE)));
    Box::leak(Box::new(M::from_raw(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::{Array, Hash, Ipv4Prefix, LpmTrie, LruHash};

    #[test]
    fn hash_maps_get_insert_remove_and_fill_up() {
        let map = memory_map::<Hash<u32, u64>>(2);
        assert_eq!(map.get(&1), None);
        map.insert(&1, &10).unwrap();
        map.insert(&2, &20).unwrap();
        assert_eq!(map.insert(&3, &30), Err(MapError::FULL));
        map.insert(&2, &21).unwrap();
        assert_eq!(map.get(&2), Some(21));
        map.remove(&1).unwrap();
        assert_eq!(map.remove(&1), Err(MapError::NOT_FOUND));
        assert_eq!(map.get(&1), None);
    }

    #[test]
    fn a_key_s_value_is_modified_where_it_is_and_a_missing_key_is_not_found() {
        let map = memory_map::<LruHash<u32, u64>>(2);
        assert_eq!(map.modify(&1, |value| *value += 1), Err(MapError::NOT_FOUND));
        assert_eq!(map.get(&1), None, "modify does not insert");
        map.insert(&1, &41).unwrap();
        map.modify(&1, |value| *value += 1).unwrap();
        assert_eq!(map.get(&1), Some(42));
    }

    #[test]
    fn lru_maps_evict_the_least_recently_used() {
        let map = memory_map::<LruHash<u32, u32>>(2);
        map.insert(&1, &1).unwrap();
        map.insert(&2, &2).unwrap();
        assert_eq!(map.get(&1), Some(1));
        map.insert(&3, &3).unwrap();
        assert_eq!(map.get(&2), None, "2 was used least recently");
        assert_eq!(map.get(&1), Some(1));
        assert_eq!(map.get(&3), Some(3));
    }

    #[test]
    fn arrays_have_every_index_and_no_more() {
        let map = memory_map::<Array<u64>>(4);
        assert_eq!(map.get(3), Some(0));
        assert_eq!(map.get(4), None);
        map.insert(3, &7).unwrap();
        assert_eq!(map.get(3), Some(7));
        assert_eq!(map.insert(4, &7), Err(MapError::NOT_FOUND));
        assert_eq!(map.remove(3), Err(MapError::INVALID));
    }

    #[test]
    fn lpm_tries_find_the_longest_matching_prefix() {
        let map = memory_map::<LpmTrie<Ipv4Prefix, u8>>(8);
        map.insert(&Ipv4Prefix::new([198, 18, 0, 0], 15), &1).unwrap();
        map.insert(&Ipv4Prefix::new([198, 18, 7, 0], 24), &2).unwrap();
        assert_eq!(map.get(&Ipv4Prefix::host([198, 19, 1, 1])), Some(1));
        assert_eq!(map.get(&Ipv4Prefix::host([198, 18, 7, 9])), Some(2));
        assert_eq!(map.get(&Ipv4Prefix::host([198, 20, 0, 1])), None);
        map.remove(&Ipv4Prefix::new([198, 18, 7, 0], 24)).unwrap();
        assert_eq!(map.get(&Ipv4Prefix::host([198, 18, 7, 9])), Some(1));
    }

    #[test]
    fn prefixes_compare_bit_by_bit() {
        assert!(prefix_matches(&[0b1010_0000], &[0b1011_1111], 3));
        assert!(!prefix_matches(&[0b1010_0000], &[0b1011_1111], 4));
        assert!(prefix_matches(&[1, 2], &[3, 4], 0));
    }
}
