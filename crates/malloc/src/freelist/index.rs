//! An index over the free list (or the heap's blocks) that answers in `O(log n)` what
//! the C code finds by walking: how many nodes come before a position, and which is the
//! first node, from a position on, whose block is large enough.
//!
//! The simulator keeps the list itself as an ordered map (see `list.rs`), and charges
//! every node a C loop would walk past. Counting those nodes, or finding the first
//! block that fits in a list that is not sorted by size, by walking the map would make
//! the simulator as slow as the C loop it models, and a policy that makes long lists
//! (no coalescing, say) would take minutes on a real trace. The index gives the same
//! answers from a balanced tree:
//!
//! - a *treap*: a binary search tree on the list keys that is also a heap on random
//!   priorities, so it stays balanced (expected depth `O(log n)`) whatever order the
//!   keys come in;
//! - each node also knows how many nodes its subtree holds and the largest block in
//!   it, so a rank is a sum along one path, and "the first block of at least `n`
//!   bytes" skips every subtree whose largest block is smaller.
//!
//! The priorities come from a fixed-seed generator: the tree's shape, and so the
//! simulation, is the same on every run.

/// A key: a position in the list (the free list's `Key`).
pub(super) type Key = (u64, u64);

const NIL: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Node {
    key: Key,
    size: u64,
    prio: u64,
    left: u32,
    right: u32,
    /// Nodes in this subtree.
    count: u32,
    /// Largest `size` in this subtree.
    max: u64,
}

/// The index: keys with a block size each, in key order.
#[derive(Clone, Debug)]
pub(super) struct Index {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    seed: u64,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            seed: 0x853c_49e6_748f_ea9b,
        }
    }
}

impl Index {
    /// Keys held.
    pub(super) fn len(&self) -> u64 {
        self.count(self.root)
    }

    fn count(&self, n: u32) -> u64 {
        if n == NIL {
            0
        } else {
            u64::from(self.nodes[n as usize].count)
        }
    }

    fn max(&self, n: u32) -> u64 {
        if n == NIL {
            0
        } else {
            self.nodes[n as usize].max
        }
    }

    fn update(&mut self, n: u32) {
        let (l, r) = {
            let node = &self.nodes[n as usize];
            (node.left, node.right)
        };
        let count = 1 + self.count(l) + self.count(r);
        let max = self.nodes[n as usize]
            .size
            .max(self.max(l))
            .max(self.max(r));
        let node = &mut self.nodes[n as usize];
        node.count = count as u32;
        node.max = max;
    }

    /// Splits the tree `t` into keys `< key` and keys `>= key`.
    fn split(&mut self, t: u32, key: Key) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.nodes[t as usize].key < key {
            let (a, b) = self.split(self.nodes[t as usize].right, key);
            self.nodes[t as usize].right = a;
            self.update(t);
            (t, b)
        } else {
            let (a, b) = self.split(self.nodes[t as usize].left, key);
            self.nodes[t as usize].left = b;
            self.update(t);
            (a, t)
        }
    }

    /// Joins two trees, every key of `a` below every key of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = r;
            self.update(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            self.update(b);
            b
        }
    }

    fn next_prio(&mut self) -> u64 {
        // splitmix64: a fixed sequence, so the tree's shape is reproducible.
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Adds `key` with a block of `size` bytes (the key must not be present).
    pub(super) fn insert(&mut self, key: Key, size: u64) {
        let node = Node {
            key,
            size,
            prio: self.next_prio(),
            left: NIL,
            right: NIL,
            count: 1,
            max: size,
        };
        let n = match self.free.pop() {
            Some(n) => {
                self.nodes[n as usize] = node;
                n
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let (a, b) = self.split(self.root, key);
        let a = self.merge(a, n);
        self.root = self.merge(a, b);
    }

    /// Removes `key` (nothing happens when it is absent).
    pub(super) fn remove(&mut self, key: Key) {
        let (a, b) = self.split(self.root, key);
        // `b` starts with `key` if present: take its first node off.
        let (first, c) = self.split_first(b);
        let c = if first != NIL && self.nodes[first as usize].key == key {
            self.free.push(first);
            c
        } else {
            self.merge(first, c)
        };
        self.root = self.merge(a, c);
    }

    /// Splits the tree `t` into its first node (in key order) and the rest.
    fn split_first(&mut self, t: u32) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let left = self.nodes[t as usize].left;
        if left == NIL {
            let right = self.nodes[t as usize].right;
            self.nodes[t as usize].right = NIL;
            self.update(t);
            return (t, right);
        }
        let (first, rest) = self.split_first(left);
        self.nodes[t as usize].left = rest;
        self.update(t);
        (first, t)
    }

    /// How many keys are below `key`.
    pub(super) fn rank(&self, key: Key) -> u64 {
        let mut n = self.root;
        let mut below = 0;
        while n != NIL {
            let node = &self.nodes[n as usize];
            if node.key < key {
                below += self.count(node.left) + 1;
                n = node.right;
            } else {
                n = node.left;
            }
        }
        below
    }

    /// The first key at or after `from` whose block has at least `size` bytes, with its
    /// rank (the number of keys before it).
    pub(super) fn first_fit(&self, from: Key, size: u64) -> Option<(Key, u64)> {
        self.first_in(self.root, from, size, 0)
    }

    fn first_in(&self, n: u32, from: Key, size: u64, before: u64) -> Option<(Key, u64)> {
        if n == NIL || self.nodes[n as usize].max < size {
            return None;
        }
        let node = &self.nodes[n as usize];
        if node.key < from {
            // This node and its left subtree are before `from`.
            let before = before + self.count(node.left) + 1;
            return self.first_in(node.right, from, size, before);
        }
        if let Some(hit) = self.first_in(node.left, from, size, before) {
            return Some(hit);
        }
        let here = before + self.count(node.left);
        if node.size >= size {
            return Some((node.key, here));
        }
        self.first_in(node.right, from, size, here + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The index answers what a walk of an ordered map answers, through a long random
    /// sequence of inserts and removes.
    #[test]
    fn ranks_and_first_fits_agree_with_a_walk() {
        let mut index = Index::default();
        let mut map: BTreeMap<Key, u64> = BTreeMap::new();
        let mut x: u64 = 1;
        for step in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = ((x >> 40) % 500, (x >> 20) % 3);
            if map.remove(&key).is_some() {
                index.remove(key);
            } else {
                let size = 16 * (1 + (x >> 8) % 64);
                map.insert(key, size);
                index.insert(key, size);
            }
            assert_eq!(index.len(), map.len() as u64);
            let probe = ((x >> 33) % 520, (x >> 11) % 4);
            assert_eq!(
                index.rank(probe),
                map.range(..probe).count() as u64,
                "step {step}"
            );
            let want = 16 * (1 + (x >> 50) % 70);
            let walk = map
                .range(probe..)
                .find(|&(_, &s)| s >= want)
                .map(|(&k, _)| (k, map.range(..k).count() as u64));
            assert_eq!(index.first_fit(probe, want), walk, "step {step}");
        }
        // Removing what is absent changes nothing.
        let n = index.len();
        index.remove((10_000, 0));
        assert_eq!(index.len(), n);
    }
}
