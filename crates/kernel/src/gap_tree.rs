//! The free gaps of an address space, indexed so that `mmap` finds a place fast.
//!
//! `mmap` without a fixed address asks for "the highest hole below `mmap_base` that is
//! at least `len` long" (Linux's `unmapped_area_topdown`). Scanning the VMAs from the
//! top is O(n) when many small holes sit above the first big one, and processes with
//! tens of thousands of mappings are common (one per malloc'd block for mmap-based
//! allocators). Linux therefore *augments* its VMA tree: every node also stores the
//! largest gap anywhere in its subtree (`rb_subtree_gap` in the old red-black tree, the
//! gap tracking of today's maple tree), so a search can skip whole subtrees whose gaps
//! are all too small.
//!
//! The model keeps the gaps (the complement of the VMAs) in a separate balanced tree
//! with the same augmentation: a *treap* keyed by each gap's end address, where every
//! node stores the largest gap size in its subtree. Finding the highest fitting gap
//! below a limit then takes O(log n) steps: go right (higher addresses) whenever the
//! right subtree has a gap that is big enough, else take this node, else go left.
//! A treap stays balanced in expectation by giving each node a random priority and
//! keeping the tree a heap on priorities; the priorities come from a fixed-seed
//! generator, so the shape (and every result) is deterministic.

/// Sentinel for "no node".
const NIL: u32 = u32::MAX;

#[derive(Copy, Clone, Debug)]
struct Node {
    /// One past the gap's last byte (the key).
    end: u64,
    /// The gap's first byte.
    start: u64,
    /// Largest `end - start` in this subtree.
    max: u64,
    prio: u32,
    left: u32,
    right: u32,
}

/// The set of free gaps `[start, end)` of an address space, disjoint and non-empty.
#[derive(Clone, Debug)]
pub struct GapTree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    rng: u64,
    len: usize,
}

impl GapTree {
    /// An empty set.
    pub fn new() -> GapTree {
        GapTree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            rng: 0x9E37_79B9_7F4A_7C15,
            len: 0,
        }
    }

    /// Number of gaps.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    fn next_prio(&mut self) -> u32 {
        // xorshift64: a fixed sequence, so the treap's shape is reproducible.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 32) as u32
    }

    fn max_of(&self, t: u32) -> u64 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].max
        }
    }

    /// Recomputes the subtree maximum of node `t` from its children.
    fn refresh(&mut self, t: u32) {
        let n = self.nodes[t as usize];
        let m = (n.end - n.start)
            .max(self.max_of(n.left))
            .max(self.max_of(n.right));
        self.nodes[t as usize].max = m;
    }

    /// Splits `t` into (gaps ending before `key`, gaps ending at or after `key`).
    fn split(&mut self, t: u32, key: u64) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.nodes[t as usize].end < key {
            let (l, r) = self.split(self.nodes[t as usize].right, key);
            self.nodes[t as usize].right = l;
            self.refresh(t);
            (t, r)
        } else {
            let (l, r) = self.split(self.nodes[t as usize].left, key);
            self.nodes[t as usize].left = r;
            self.refresh(t);
            (l, t)
        }
    }

    /// Joins two treaps where every key of `a` is below every key of `b`.
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
            self.refresh(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            self.refresh(b);
            b
        }
    }

    /// Adds the gap `[start, end)` (non-empty, disjoint from the others).
    pub fn insert(&mut self, start: u64, end: u64) {
        debug_assert!(start < end);
        let node = Node {
            end,
            start,
            max: end - start,
            prio: self.next_prio(),
            left: NIL,
            right: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let (l, r) = self.split(self.root, end);
        let m = self.merge(l, idx);
        self.root = self.merge(m, r);
        self.len += 1;
    }

    /// Removes the gap ending at `end`; returns its start.
    pub fn remove(&mut self, end: u64) -> Option<u64> {
        let (l, r) = self.split(self.root, end);
        let (mid, r2) = self.split(r, end + 1);
        let start = if mid == NIL {
            None
        } else {
            // Keys are unique, so `mid` is a single node.
            self.free.push(mid);
            self.len -= 1;
            Some(self.nodes[mid as usize].start)
        };
        self.root = self.merge(l, r2);
        start
    }

    /// Changes the gap ending at `end` into `[new_start, new_end)` in place: O(depth),
    /// no restructuring. Valid only when no other gap's end lies between `end` and
    /// `new_end`, so the tree's order is unchanged (true when a gap shrinks or grows
    /// within the space between its neighbours). Returns false if no gap ends at `end`.
    pub fn update(&mut self, end: u64, new_start: u64, new_end: u64) -> bool {
        debug_assert!(new_start < new_end);
        let root = self.root;
        self.update_in(root, end, new_start, new_end)
    }

    fn update_in(&mut self, t: u32, end: u64, new_start: u64, new_end: u64) -> bool {
        if t == NIL {
            return false;
        }
        let n = self.nodes[t as usize];
        let found = if end < n.end {
            self.update_in(n.left, end, new_start, new_end)
        } else if end > n.end {
            self.update_in(n.right, end, new_start, new_end)
        } else {
            let node = &mut self.nodes[t as usize];
            node.start = new_start;
            node.end = new_end;
            true
        };
        if found {
            self.refresh(t);
        }
        found
    }

    /// The gap with the smallest end `>= key`, as `(start, end)`.
    pub fn first_ending_at_or_after(&self, key: u64) -> Option<(u64, u64)> {
        let mut t = self.root;
        let mut best = None;
        while t != NIL {
            let n = &self.nodes[t as usize];
            if n.end >= key {
                best = Some((n.start, n.end));
                t = n.left;
            } else {
                t = n.right;
            }
        }
        best
    }

    /// The gap with the highest end `< high` among those at least `len` long.
    fn rightmost_fitting(&self, t: u32, len: u64, high: u64) -> Option<(u64, u64)> {
        if t == NIL || self.nodes[t as usize].max < len {
            return None;
        }
        let n = self.nodes[t as usize];
        if n.end >= high {
            return self.rightmost_fitting(n.left, len, high);
        }
        if let Some(g) = self.rightmost_fitting(n.right, len, high) {
            return Some(g);
        }
        if n.end - n.start >= len {
            return Some((n.start, n.end));
        }
        self.rightmost_fitting(n.left, len, high)
    }

    /// Linux's top-down search: the highest address `a` with `[a, a + len)` inside a gap
    /// and inside `[low, high)`.
    pub fn find_topdown(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        if len == 0 || high < low || high - low < len {
            return None;
        }
        // The gap that contains `high` (or ends exactly there) is the best candidate,
        // clipped to the window.
        if let Some((s, _)) = self.first_ending_at_or_after(high)
            && s < high
            && high - s.max(low) >= len
        {
            return Some(high - len);
        }
        let (s, e) = self.rightmost_fitting(self.root, len, high)?;
        if e <= low {
            return None;
        }
        let s = s.max(low);
        if e - s >= len { Some(e - len) } else { None }
    }

    /// Every gap in address order (for consistency checks).
    pub fn to_vec(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::with_capacity(self.len);
        let mut stack = Vec::new();
        let mut t = self.root;
        while t != NIL || !stack.is_empty() {
            while t != NIL {
                stack.push(t);
                t = self.nodes[t as usize].left;
            }
            if let Some(n) = stack.pop() {
                out.push((self.nodes[n as usize].start, self.nodes[n as usize].end));
                t = self.nodes[n as usize].right;
            }
        }
        out
    }
}

impl Default for GapTree {
    fn default() -> Self {
        GapTree::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious O(n) answer, to compare with.
    fn naive(gaps: &[(u64, u64)], len: u64, low: u64, high: u64) -> Option<u64> {
        gaps.iter()
            .rev()
            .filter_map(|&(s, e)| {
                let (s, e) = (s.max(low), e.min(high));
                (e > s && e - s >= len).then(|| e - len)
            })
            .next()
    }

    #[test]
    fn finds_highest_fitting_gap() {
        let mut g = GapTree::new();
        for (s, e) in [(0, 10), (20, 25), (30, 60), (70, 72), (80, 100)] {
            g.insert(s, e);
        }
        assert_eq!(g.find_topdown(5, 0, 100), Some(95));
        assert_eq!(g.find_topdown(5, 0, 90), Some(85));
        assert_eq!(g.find_topdown(21, 0, 100), Some(39));
        assert_eq!(g.find_topdown(3, 0, 78), Some(57), "70..72 is too small");
        assert_eq!(g.find_topdown(31, 0, 100), None);
        assert_eq!(
            g.find_topdown(8, 5, 28),
            None,
            "clipped to 5..10 the first gap is too small"
        );
        assert_eq!(g.find_topdown(5, 5, 28), Some(20));
        assert_eq!(g.remove(60), Some(30));
        assert_eq!(g.find_topdown(21, 0, 100), None);
        assert_eq!(g.len(), 4);
        assert_eq!(g.to_vec(), vec![(0, 10), (20, 25), (70, 72), (80, 100)]);
    }

    #[test]
    fn update_changes_a_gap_in_place() {
        let mut g = GapTree::new();
        g.insert(0, 10);
        g.insert(20, 30);
        g.insert(40, 50);
        assert!(g.update(30, 20, 35), "grow the middle gap upwards");
        assert!(g.update(50, 45, 50), "shrink the top gap from below");
        assert!(!g.update(31, 0, 1), "no gap ends at 31");
        assert_eq!(g.to_vec(), vec![(0, 10), (20, 35), (45, 50)]);
        assert_eq!(
            g.find_topdown(15, 0, 100),
            Some(20),
            "the subtree maxima were refreshed"
        );
        assert_eq!(g.find_topdown(6, 0, 100), Some(29));
    }

    #[test]
    fn agrees_with_a_linear_scan() {
        // Gaps of pseudo-random sizes; compare many queries with the naive scan.
        let mut g = GapTree::new();
        let mut gaps = Vec::new();
        let mut x: u64 = 12345;
        let mut at = 0;
        for _ in 0..500 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = 1 + (x >> 33) % 50;
            let hole = 1 + (x >> 20) % 7;
            gaps.push((at, at + len));
            g.insert(at, at + len);
            at += len + hole;
        }
        for q in 0..2000u64 {
            let len = 1 + q % 53;
            let high = (q * 7919) % (at + 10);
            let low = (q * 31) % 200;
            assert_eq!(
                g.find_topdown(len, low, high),
                naive(&gaps, len, low, high),
                "len {len} low {low} high {high}"
            );
        }
    }
}
