//! Two small copy-on-write collections for the DNS index, so that a commit touching one instance
//! of a large service costs O(n/64 + 64), not O(n): cloning shares chunks (or shards) behind
//! `Arc`s and an update copies only the one it changes. Readers keep whatever version they
//! loaded.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

const CHUNK: usize = 64;

/// A dense, indexable sequence (for uniform random picks) with O(1)-ish push and swap-remove.
#[derive(Debug, Clone)]
pub struct Slots<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> Slots<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, index: usize) -> Option<&T> {
        self.chunks
            .get(index / CHUNK)
            .and_then(|chunk| chunk.get(index % CHUNK))
    }

    /// Appends and returns the new element's index.
    pub fn push(&mut self, value: T) -> usize {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => Arc::make_mut(last).push(value),
            _ => self.chunks.push(Arc::new(vec![value])),
        }
        self.len += 1;
        self.len - 1
    }

    /// Removes the element at `index` by moving the last one into its place; returns the moved
    /// element (now at `index`) so its owner can update where it lives.
    pub fn swap_remove(&mut self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let last_chunk = self.chunks.len() - 1;
        let last = Arc::make_mut(&mut self.chunks[last_chunk]).pop()?;
        if self.chunks[last_chunk].is_empty() {
            self.chunks.pop();
        }
        self.len -= 1;
        if index == self.len {
            return None;
        }
        let chunk = Arc::make_mut(&mut self.chunks[index / CHUNK]);
        chunk[index % CHUNK] = last;
        self.get(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }
}

const SHARDS: usize = 64;

/// A hash map split into shards behind `Arc`s.
#[derive(Debug, Clone)]
pub struct ShardedMap<K, V> {
    shards: Vec<Arc<HashMap<K, V>>>,
    hasher: std::hash::RandomState,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            shards: Vec::new(),
            hasher: std::hash::RandomState::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> ShardedMap<K, V> {
    fn shard_of<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards
            .get(self.shard_of(key))
            .and_then(|shard| shard.get(key))
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    fn shard_mut(&mut self, index: usize) -> &mut HashMap<K, V> {
        if self.shards.is_empty() {
            self.shards = (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect();
        }
        Arc::make_mut(&mut self.shards[index])
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let index = self.shard_of(&key);
        self.shard_mut(index).insert(key, value)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let index = self.shard_of(key);
        if self
            .shards
            .get(index)
            .is_none_or(|shard| !shard.contains_key(key))
        {
            return None;
        }
        self.shard_mut(index).remove(key)
    }

    /// The value at `key`, inserting `make()` if absent, for changing in place.
    pub fn entry_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let index = self.shard_of(&key);
        self.shard_mut(index).entry(key).or_insert_with(make)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_push_and_swap_remove_keep_a_dense_sequence() {
        let mut slots = Slots::default();
        for i in 0..200 {
            assert_eq!(slots.push(i), i);
        }
        let before = slots.clone();
        assert_eq!(slots.swap_remove(5), Some(&199));
        assert_eq!(slots.len(), 199);
        assert_eq!(
            slots.swap_remove(198),
            None,
            "removing the last moves nothing"
        );
        assert_eq!(slots.len(), 198);
        assert_eq!(before.get(5), Some(&5), "an older version is untouched");
        assert_eq!(before.len(), 200);
        let mut all: Vec<usize> = slots.iter().copied().collect();
        all.sort();
        let expected: Vec<usize> = (0..198).filter(|&i| i != 5).chain([199]).collect();
        let mut expected = expected;
        expected.sort();
        assert_eq!(all, expected);
        while !slots.is_empty() {
            slots.swap_remove(0);
        }
        assert_eq!(slots.get(0), None);
        assert_eq!(slots.push(7), 0);
    }

    #[test]
    fn sharded_maps_copy_on_write() {
        let mut map: ShardedMap<String, u32> = ShardedMap::default();
        map.insert("a".into(), 1);
        let snapshot = map.clone();
        map.insert("a".into(), 2);
        *map.entry_or_insert_with("b".into(), || 0) += 5;
        assert_eq!(map.get("a"), Some(&2));
        assert_eq!(map.get("b"), Some(&5));
        assert_eq!(snapshot.get("a"), Some(&1));
        assert_eq!(snapshot.get("b"), None);
        assert_eq!(map.remove("a"), Some(2));
        assert!(!map.contains_key("a"));
    }
}
