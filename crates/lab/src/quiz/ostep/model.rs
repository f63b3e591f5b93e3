//! malloc.py's allocator, quirks included.
//!
//! OSTEP's free-space simulator keeps a Python list of free ranges `(addr, size)` over a
//! heap of fixed size (it never grows) and a map from each handed-out address to its
//! size. This is the same model, operation for operation, so that its answers are
//! malloc.py's answers. Where malloc.py differs from a real allocator the model differs
//! too, on purpose:
//!
//! - **Sizes.** A request is first rounded up to the alignment, *then* the header is
//!   added: with `-a 4 -H 3` a block is never a multiple of 4. The header is only
//!   counted; nothing is written.
//! - **Search.** BEST takes the smallest block that fits, WORST the largest (ties: the
//!   first in list order); both look at every node. FIRST stops at the first fit. The
//!   "searched N elements" count is the number of nodes looked at. BEST starts from
//!   "heap size + 1", so a free range larger than the heap would never be chosen.
//! - **List order** is kept on `free` only: the freed range is added (at the back, or
//!   at the front for INSERT-FRONT) and the whole list is re-sorted with a stable sort
//!   (by address, by size, by size descending). A split shrinks a node in place, so a
//!   size-sorted list can be out of order until the next free.
//! - **Coalescing** (`-C`) is one pass over the list in list order that merges a node
//!   into the one before it when the two are adjacent *in memory*. In an address-sorted
//!   list that is correct coalescing; in any other order, neighbours in memory that are
//!   not neighbours in the list stay apart.
//! - **Free** of an address not handed out (or already freed) returns -1 and changes
//!   nothing; a successful free returns 0.
//! - A request of 0 bytes with no header takes 0 bytes at the start of a free range,
//!   so the next request there gets the same address, and malloc.py stops with an
//!   assertion (its map already has that address). The model reports that as an error.
//!
//! Arithmetic is Python's: sizes may even be negative (`-r -5` or `-A +-3`), and the
//! remainder of a division is never negative.

use std::collections::BTreeMap;
use std::fmt;

/// malloc.py's `-p`: which free range a request takes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The smallest range that fits.
    Best,
    /// The largest range that fits.
    Worst,
    /// The first range, in list order, that fits.
    First,
}

impl Policy {
    /// The policy named as malloc.py spells it (`BEST`, `WORST`, `FIRST`).
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "BEST" => Policy::Best,
            "WORST" => Policy::Worst,
            "FIRST" => Policy::First,
            _ => return None,
        })
    }
}

/// malloc.py's `-l`: how `free` puts a range back.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ListOrder {
    /// Sorted by address.
    AddrSort,
    /// Sorted by size, smallest first.
    SizeSortUp,
    /// Sorted by size, largest first.
    SizeSortDown,
    /// Freed ranges go to the front.
    InsertFront,
    /// Freed ranges go to the back.
    InsertBack,
}

impl ListOrder {
    /// The order named as malloc.py spells it (`ADDRSORT`, `SIZESORT+`, `SIZESORT-`,
    /// `INSERT-FRONT`, `INSERT-BACK`).
    pub fn parse(s: &str) -> Option<ListOrder> {
        Some(match s {
            "ADDRSORT" => ListOrder::AddrSort,
            "SIZESORT+" => ListOrder::SizeSortUp,
            "SIZESORT-" => ListOrder::SizeSortDown,
            "INSERT-FRONT" => ListOrder::InsertFront,
            "INSERT-BACK" => ListOrder::InsertBack,
            _ => return None,
        })
    }
}

/// Something malloc.py itself cannot go on from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// A request got an address that is already handed out (a zero-size block sits
    /// there): malloc.py's `assert(addr not in self.sizemap)` fails.
    AddressTaken(i64),
    /// A value left the 64-bit range this model computes in (Python would go on with
    /// bigger integers).
    Overflow,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::AddressTaken(a) => write!(
                f,
                "address {a} is handed out twice (a 0-byte block sits there); \
                 malloc.py stops here with an AssertionError"
            ),
            ModelError::Overflow => {
                f.write_str("a size or address left the 64-bit range this model computes in")
            }
        }
    }
}

impl std::error::Error for ModelError {}

/// The allocator of malloc.py: a free list over a fixed heap.
#[derive(Clone, Debug)]
pub struct Model {
    /// The heap size (`-S`): BEST's starting "best size" is one more.
    size: i64,
    header: i64,
    policy: Policy,
    order: ListOrder,
    coalesce: bool,
    /// `None` for malloc.py's `-1`: no alignment.
    align: Option<i64>,
    /// The free list in list order: (address, size).
    free: Vec<(i64, i64)>,
    /// Handed-out addresses and their sizes (header included).
    sizes: BTreeMap<i64, i64>,
}

impl Model {
    /// A heap of `size` bytes at `base`, one free range. `align` is `None` for no
    /// alignment, else a positive number.
    pub fn new(
        size: i64,
        base: i64,
        header: i64,
        policy: Policy,
        order: ListOrder,
        coalesce: bool,
        align: Option<i64>,
    ) -> Model {
        Model {
            size,
            header,
            policy,
            order,
            coalesce,
            align,
            free: vec![(base, size)],
            sizes: BTreeMap::new(),
        }
    }

    /// The free list in list order.
    pub fn free_list(&self) -> &[(i64, i64)] {
        &self.free
    }

    /// `malloc(size)`: the address of the range taken (header included: it is where
    /// the header would be) or `None` when nothing fits, and how many list nodes the
    /// search looked at.
    pub fn malloc(&mut self, size: i64) -> Result<(Option<i64>, u64), ModelError> {
        let mut need = size;
        if let Some(a) = self.align {
            let left = need.rem_euclid(a);
            if left != 0 {
                need = need.checked_add(a - left).ok_or(ModelError::Overflow)?;
            }
        }
        need = need.checked_add(self.header).ok_or(ModelError::Overflow)?;
        let mut best: Option<usize> = None;
        let mut best_size = match self.policy {
            Policy::Best => self.size.checked_add(1).ok_or(ModelError::Overflow)?,
            Policy::Worst | Policy::First => -1,
        };
        let mut count = 0u64;
        for (i, &(_, esize)) in self.free.iter().enumerate() {
            count += 1;
            let better = match self.policy {
                Policy::Best => esize < best_size,
                Policy::Worst => esize > best_size,
                Policy::First => true,
            };
            if esize >= need && better {
                best = Some(i);
                best_size = esize;
                if self.policy == Policy::First {
                    break;
                }
            }
        }
        let Some(i) = best else {
            return Ok((None, count));
        };
        let addr = self.free[i].0;
        if best_size > need {
            let rest = addr.checked_add(need).ok_or(ModelError::Overflow)?;
            self.free[i] = (rest, best_size - need);
        } else {
            self.free.remove(i);
        }
        if self.sizes.insert(addr, need).is_some() {
            return Err(ModelError::AddressTaken(addr));
        }
        Ok((Some(addr), count))
    }

    /// `free(addr)`: 0 when `addr` was handed out, -1 (and nothing changes) otherwise.
    pub fn free(&mut self, addr: i64) -> Result<i64, ModelError> {
        let Some(&size) = self.sizes.get(&addr) else {
            return Ok(-1);
        };
        match self.order {
            ListOrder::InsertFront => self.free.insert(0, (addr, size)),
            _ => self.free.push((addr, size)),
        }
        // Stable sorts, as Python's `sorted` is (also with `reverse=True`).
        match self.order {
            ListOrder::AddrSort => self.free.sort_by_key(|e| e.0),
            ListOrder::SizeSortUp => self.free.sort_by_key(|e| e.1),
            ListOrder::SizeSortDown => self.free.sort_by_key(|e| std::cmp::Reverse(e.1)),
            ListOrder::InsertFront | ListOrder::InsertBack => {}
        }
        if self.coalesce {
            let mut merged: Vec<(i64, i64)> = Vec::with_capacity(self.free.len());
            let mut cur = self.free[0];
            for &(a, s) in &self.free[1..] {
                if Some(a) == cur.0.checked_add(cur.1) {
                    cur.1 = cur.1.checked_add(s).ok_or(ModelError::Overflow)?;
                } else {
                    merged.push(cur);
                    cur = (a, s);
                }
            }
            merged.push(cur);
            self.free = merged;
        }
        self.sizes.remove(&addr);
        Ok(0)
    }

    /// The free list as malloc.py's `dump` prints it (no newline).
    pub fn dump(&self) -> String {
        let mut s = format!("Free List [ Size {} ]: ", self.free.len());
        for (a, z) in &self.free {
            s.push_str(&format!("[ addr:{a} sz:{z} ]"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(policy: Policy, order: ListOrder, coalesce: bool) -> Model {
        Model::new(100, 1000, 0, policy, order, coalesce, None)
    }

    #[test]
    fn best_fit_splits_and_frees_back_in_address_order() {
        let mut m = model(Policy::Best, ListOrder::AddrSort, false);
        assert_eq!(m.malloc(10).unwrap(), (Some(1000), 1));
        assert_eq!(m.malloc(20).unwrap(), (Some(1010), 1));
        assert_eq!(m.free(1000).unwrap(), 0);
        assert_eq!(m.free_list(), &[(1000, 10), (1030, 70)]);
        // Best fit takes the 10-byte range for 5 bytes, looking at both nodes.
        assert_eq!(m.malloc(5).unwrap(), (Some(1000), 2));
        assert_eq!(m.free(1000).unwrap(), 0);
        assert_eq!(m.free(1000).unwrap(), -1, "a double free is refused");
    }

    #[test]
    fn coalescing_merges_list_neighbours_only() {
        // Freed from the top down, each block lands in front of its upper neighbour.
        let mut m = model(Policy::First, ListOrder::InsertFront, true);
        m.malloc(10).unwrap();
        m.malloc(10).unwrap();
        m.free(1010).unwrap();
        m.free(1000).unwrap();
        assert_eq!(m.free_list(), &[(1000, 100)]);
        // Freed the other way round, 1010 lands in front of 1000: neighbours in memory,
        // but in the wrong list order, so they stay apart.
        let mut m = model(Policy::First, ListOrder::InsertFront, true);
        m.malloc(10).unwrap();
        m.malloc(10).unwrap();
        m.free(1000).unwrap();
        m.free(1010).unwrap();
        assert_eq!(m.free_list(), &[(1010, 10), (1000, 10), (1020, 80)]);
    }

    #[test]
    fn alignment_comes_before_the_header() {
        let mut m = Model::new(
            100,
            0,
            3,
            Policy::First,
            ListOrder::AddrSort,
            false,
            Some(4),
        );
        m.malloc(5).unwrap(); // 5 -> 8, + 3 = 11
        assert_eq!(m.free_list(), &[(11, 89)]);
    }

    #[test]
    fn zero_byte_blocks_collide_as_in_malloc_py() {
        let mut m = model(Policy::First, ListOrder::AddrSort, false);
        assert_eq!(m.malloc(0).unwrap(), (Some(1000), 1));
        assert_eq!(m.malloc(4), Err(ModelError::AddressTaken(1000)));
    }

    #[test]
    fn size_sorted_lists_are_sorted_on_free_only_and_stably() {
        let mut m = model(Policy::First, ListOrder::SizeSortDown, false);
        let a = m.malloc(10).unwrap().0.unwrap();
        let b = m.malloc(10).unwrap().0.unwrap();
        m.free(a).unwrap();
        m.free(b).unwrap();
        // Two 10-byte ranges keep the order they had (a first), behind the large one.
        assert_eq!(m.free_list(), &[(1020, 80), (1000, 10), (1010, 10)]);
    }
}
