//! The free list: where free blocks wait, in the order the policy keeps them.
//!
//! A C allocator threads its free blocks on a doubly linked list whose links live in
//! the free blocks' payloads (`next` at `payload`, `prev` at `payload + 8`). The
//! simulator keeps the same list as an ordered map whose key order *is* the list order
//! ([`Key`]): an address for `address` order, `(size, address)` for the size orders,
//! an insertion counter for `lifo` and `fifo`. Walking the list is iterating the map;
//! inserting into a sorted list is charged one node per node walked past, as the C
//! loop would be. Every link a real list would store is written through the kernel:
//! the new node's two links, and the links of the neighbours it is put between (or
//! taken from).

use super::FreeList;
use super::heap::Blk;
use crate::api::AllocError;
use crate::freelist::Order;
use kernel::{Addr, Kernel};
use std::ops::Bound;

/// A free block's place in the list: the key of the ordered map standing for the linked
/// list. Comparing keys is comparing list positions.
pub(super) type Key = (u64, u64);

/// Where a block being linked into the free list goes.
#[derive(Copy, Clone, Debug)]
pub(super) enum Place {
    /// Where the list order puts a newly freed block. `walked` says the position was
    /// already found by a walk that was charged (so it is not charged twice).
    New { walked: bool },
    /// In the place of the node that had this key: the remainder of a split, a block
    /// merged with its neighbour in an address-ordered list, a grown or trimmed top. A
    /// size-ordered list cannot keep a place whose size changed, so there it means `New`.
    Keep(Key),
}

impl FreeList {
    /// Writes the list links of the free-list neighbours of `key` (the node before it
    /// gets a new `next`, the node after it a new `prev`): what linking or unlinking a
    /// node of a doubly linked list stores.
    pub(super) fn write_neighbour_links(
        &self,
        kernel: &mut Kernel,
        key: Key,
    ) -> Result<(), AllocError> {
        let h = self.cfg.header;
        if let Some((_, &(a, _))) = self.list.range(..key).next_back() {
            Self::write(kernel, a + h, 8)?;
        }
        if let Some((_, &(a, _))) = self
            .list
            .range((Bound::Excluded(key), Bound::Unbounded))
            .next()
        {
            Self::write(kernel, a + h + 8, 8)?;
        }
        Ok(())
    }

    /// Links the free block `[addr, addr+size)` into the list and writes its tags and
    /// links. Returns its key. A position found by walking the list is charged one node
    /// per node passed.
    pub(super) fn list_insert(
        &mut self,
        kernel: &mut Kernel,
        addr: Addr,
        size: u64,
        place: Place,
    ) -> Result<Key, AllocError> {
        let walked = match place {
            Place::New { walked } => walked,
            Place::Keep(_) => false,
        };
        let kept = match (place, self.cfg.order) {
            (Place::Keep(old), Order::Lifo | Order::Fifo) => Some(old),
            (Place::Keep(_), Order::Address) => Some((addr, 0)),
            _ => None,
        };
        let key = match kept {
            Some(k) => k,
            None => {
                let key = match self.cfg.order {
                    // LIFO: in front of everything (keys count down).
                    Order::Lifo => {
                        self.seq += 1;
                        (u64::MAX - self.seq, 0)
                    }
                    // FIFO: behind everything, through a tail pointer.
                    Order::Fifo => {
                        self.seq += 1;
                        (self.seq, 0)
                    }
                    Order::Address => (addr, 0),
                    Order::SizeAsc => (size, addr),
                    Order::SizeDesc => (u64::MAX - size, addr),
                };
                // A sorted list is walked from its head to the insertion point.
                if !walked && !matches!(self.cfg.order, Order::Lifo | Order::Fifo) {
                    self.visits += self.index.rank(key);
                }
                key
            }
        };
        self.list.insert(key, (addr, size));
        self.index.insert(key, size);
        self.by_size_key.insert((size, key));
        self.by_size.insert((size, addr));
        let block = Blk {
            size,
            key: Some(key),
        };
        if self.blocks.insert(addr, block).is_none() {
            self.heap_index.insert((addr, 0), 0);
        }
        self.free += size;
        self.write_tags(kernel, addr, size)?;
        Self::write(kernel, addr + self.cfg.header, 16)?;
        self.write_neighbour_links(kernel, key)?;
        Ok(key)
    }

    /// Unlinks the free block at `addr` (of `size`, list key `key`) and forgets it; the
    /// caller records what the bytes become.
    pub(super) fn list_remove(
        &mut self,
        kernel: &mut Kernel,
        addr: Addr,
        size: u64,
        key: Key,
    ) -> Result<(), AllocError> {
        self.list.remove(&key);
        self.index.remove(key);
        self.by_size_key.remove(&(size, key));
        self.by_size.remove(&(size, addr));
        if self.blocks.remove(&addr).is_some() {
            self.heap_index.remove((addr, 0));
        }
        self.free -= size;
        self.write_neighbour_links(kernel, key)
    }
}
