//! Chunks: the records of the heap's pieces, and how their headers reach memory.
//!
//! glibc's heap is a sequence of chunks, each starting with two words: `prev_size`
//! (the size of the chunk before, meaningful only while that one is free) and `size`
//! (this chunk's size, with the `PREV_INUSE` bit saying whether the one before is in
//! use). A free chunk also keeps list links in its payload. The model keeps one
//! `Chunk` record per chunk in a map keyed by address, with the `State` glibc would
//! deduce from its bins and bits, and keeps running sums of the binned and fastbin
//! bytes so that `mallinfo2` costs nothing.
//!
//! Every metadata write glibc makes is also performed on the simulated kernel, so the
//! pages the real allocator dirties become resident here too: writes are queued during
//! a call (`w`), merged when they fall on a page already written, and flushed before
//! each syscall and at the end of the call (`flush`).

use super::Glibc;
use super::layout::SIZE_SZ;
use kernel::{Access, Kernel, PAGE_SIZE};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Where a chunk is, from glibc's point of view. The discriminants are the values of
/// the state field in a [`Chunk`]'s head word.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum State {
    /// Handed out to the program (or being handed out).
    #[default]
    InUse = 0,
    /// The tcache structure: in use, but glibc's own.
    Meta = 1,
    /// A fencepost glibc writes at the end of a heap region it leaves behind.
    Fence = 2,
    /// In a tcache bin.
    Tcache = 3,
    /// In a fastbin.
    Fast = 4,
    /// In the unsorted bin, a smallbin or a largebin.
    Bin = 5,
    /// A chunk in a mapping of its own.
    Mmapped = 6,
}

impl State {
    /// The state whose discriminant is `bits` (three bits; 7 is not a state).
    #[inline]
    fn from_bits(bits: u64) -> State {
        match bits {
            0 => State::InUse,
            1 => State::Meta,
            2 => State::Fence,
            3 => State::Tcache,
            4 => State::Fast,
            5 => State::Bin,
            _ => State::Mmapped,
        }
    }
}

/// One chunk's header and links. Top is not stored here (it is `Glibc::top`).
///
/// A heap of 10^6 live blocks has about as many records, so a record is kept to four
/// words, the four a free chunk of glibc's holds itself (`prev_size`, `size`, `fd`,
/// `bk`):
/// - the size and the model's flags share the head word, as glibc's size word shares
///   its low bits with `PREV_INUSE`: a chunk size is below 2^48 (it fits in the user
///   address space, 2^47 bytes), so bits 48 and up are free for the state (3 bits),
///   the `PREV_INUSE` bit, the model's unsorted mark and a mark saying the chunk has
///   nextsize links; the accessors ([`Chunk::size`], [`Chunk::state`], ...) take them
///   apart;
/// - `fd_nextsize` and `bk_nextsize`, which glibc keeps in the payload of a largebin
///   chunk, are non-NULL only on the first chunk of each run of equal sizes in a
///   largebin (and on such a chunk after it left the bin, as glibc leaves the words
///   behind in its payload): they live in [`ChunkMap`]'s side table, keyed by
///   address, and read as 0 (NULL) for a chunk without an entry there.
#[derive(Copy, Clone)]
pub(super) struct Chunk {
    /// Bits 0-47: the chunk size, flags excluded; 48-50: the [`State`]; 51:
    /// `PREV_INUSE`; 52: in the unsorted bin; 53: has an entry in the nextsize table.
    head: u64,
    /// The previous chunk's size, meaningful only when `prev_inuse` is false; for a
    /// mapped chunk, the offset of the chunk in its mapping (always 0 on x86-64).
    pub(super) prev_size: u64,
    /// Forward link (bins, fastbins, tcache).
    pub(super) fd: u64,
    /// Backward link (bins).
    pub(super) bk: u64,
}

// Four words, as the layout above says.
const _: () = assert!(std::mem::size_of::<Chunk>() == 32);

/// The head word's fields (see [`Chunk`]).
const SIZE_MASK: u64 = (1 << 48) - 1;
const STATE_SHIFT: u32 = 48;
const STATE_MASK: u64 = 7 << STATE_SHIFT;
const PREV_INUSE_BIT: u64 = 1 << 51;
const UNSORTED_BIT: u64 = 1 << 52;
const LINKS_BIT: u64 = 1 << 53;

impl Chunk {
    /// A record with no links: `size`, the `PREV_INUSE` bit and the state.
    #[inline]
    pub(super) const fn new(size: u64, prev_inuse: bool, state: State) -> Chunk {
        let prev_inuse = if prev_inuse { PREV_INUSE_BIT } else { 0 };
        Chunk {
            head: (size & SIZE_MASK) | (state as u64) << STATE_SHIFT | prev_inuse,
            prev_size: 0,
            fd: 0,
            bk: 0,
        }
    }

    /// Chunk size, flags excluded.
    #[inline]
    pub(super) fn size(&self) -> u64 {
        self.head & SIZE_MASK
    }

    /// Sets the chunk size (below 2^48, as every chunk size is).
    #[inline]
    pub(super) fn set_size(&mut self, size: u64) {
        debug_assert!(size <= SIZE_MASK, "glibc model: chunk size {size:#x}");
        self.head = (self.head & !SIZE_MASK) | (size & SIZE_MASK);
    }

    /// What the chunk is.
    #[inline]
    pub(super) fn state(&self) -> State {
        State::from_bits((self.head & STATE_MASK) >> STATE_SHIFT)
    }

    /// Sets what the chunk is (the statistics are the caller's: `Glibc::set_state`).
    #[inline]
    pub(super) fn set_state(&mut self, s: State) {
        self.head = (self.head & !STATE_MASK) | (s as u64) << STATE_SHIFT;
    }

    /// The PREV_INUSE bit: false when the chunk before is free (in a bin).
    #[inline]
    pub(super) fn prev_inuse(&self) -> bool {
        self.head & PREV_INUSE_BIT != 0
    }

    /// Sets the PREV_INUSE bit.
    #[inline]
    pub(super) fn set_prev_inuse(&mut self, on: bool) {
        self.set_bit(PREV_INUSE_BIT, on);
    }

    /// In the unsorted bin (its size bounds `Glibc::unsorted_max`). Not
    /// glibc's: the model's bookkeeping, so that `largest_free` need not walk the bin.
    #[inline]
    pub(super) fn unsorted(&self) -> bool {
        self.head & UNSORTED_BIT != 0
    }

    /// Sets the unsorted mark.
    #[inline]
    pub(super) fn set_unsorted(&mut self, on: bool) {
        self.set_bit(UNSORTED_BIT, on);
    }

    /// True when the chunk has an entry in the nextsize table.
    #[inline]
    pub(super) fn has_links(&self) -> bool {
        self.head & LINKS_BIT != 0
    }

    #[inline]
    fn set_bit(&mut self, bit: u64, on: bool) {
        if on {
            self.head |= bit;
        } else {
            self.head &= !bit;
        }
    }
}

impl std::fmt::Debug for Chunk {
    /// The fields glibc would show, the head word taken apart.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunk")
            .field("size", &self.size())
            .field("prev_size", &self.prev_size)
            .field("fd", &self.fd)
            .field("bk", &self.bk)
            .field("state", &self.state())
            .field("prev_inuse", &self.prev_inuse())
            .field("unsorted", &self.unsorted())
            .field("has_links", &self.has_links())
            .finish()
    }
}

/// A largebin chunk's `fd_nextsize` and `bk_nextsize`, in that order.
type Links = [u64; 2];

/// A cheap hasher for chunk addresses (16-byte aligned integers). The chunk map is
/// never iterated into output in hash order.
#[derive(Default)]
pub(super) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        let h = (x >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

/// Chunks are grouped by the 2 KiB of address space they start in.
const GROUP_SHIFT: u32 = 11;
const GROUP_MASK: u64 = (1 << GROUP_SHIFT) - 1;

/// Every chunk record, by address. Chunks are grouped by the 2 KiB of address space
/// they start in; a group is a bitmap of the 16-byte granules where its chunks start
/// and their records in address order. The groups of the heap sit in a vector indexed
/// by address from the first heap chunk's (one indexed load, then the record), the
/// others (mappings of their own, chunks below the heap) in a hash map, and any
/// address not 16-byte aligned (none in glibc on x86-64) in a plain map. Against one
/// hash entry per chunk this keeps no key and no empty bucket per chunk, and a
/// chunk's neighbours, which malloc and free read next, sit beside it in memory.
///
/// The nextsize links of the few chunks that have any are in a hash map of their own
/// (`links`), an entry living exactly as long as its record: a record enters the map
/// without links, and leaves it (replaced or removed) with them.
#[derive(Clone, Debug, Default)]
pub(super) struct ChunkMap {
    /// The address of `dense[0]`'s group, once a heap chunk was added.
    base: Option<u64>,
    dense: Vec<Group>,
    sparse: HashMap<u64, Group, BuildHasherDefault<AddrHasher>>,
    odd: HashMap<u64, Chunk, BuildHasherDefault<AddrHasher>>,
    /// The nextsize links of the records marked as having some.
    links: HashMap<u64, Links, BuildHasherDefault<AddrHasher>>,
    len: usize,
}

/// The vector of heap groups grows at most this far past its end at once (2 GiB of
/// address space, 32 MiB of empty groups); a chunk further away goes to the hash map.
const MAX_DENSE_GAP: u64 = 1 << 20;

/// The chunks that start in one 2 KiB of address space.
///
/// The records sit in a boxed slice rather than a `Vec`: the bitmap already counts
/// them, so the slice needs no length of its own (16 bytes against 24, in every group
/// of the heap, empty ones included), and its capacity grows along a finer ladder
/// than a `Vec`'s doubling ([`Group::capacity_for`]), which leaves a quarter of the
/// slots spare on average where doubling leaves a third.
#[derive(Clone, Debug, Default)]
struct Group {
    /// Bit k (of 128) set: a chunk starts at granule k (16 bytes each).
    bits: [u64; 2],
    /// Their records, in address order, in the first [`Group::len`] slots; the
    /// others are spare.
    slots: Box<[Chunk]>,
}

impl Group {
    /// Records in the group.
    #[inline]
    fn len(&self) -> usize {
        (self.bits[0].count_ones() + self.bits[1].count_ones()) as usize
    }

    /// The records, in address order.
    #[inline]
    fn chunks(&self) -> &[Chunk] {
        &self.slots[..self.len()]
    }

    /// The slots for `n` records: 1, 2, 3, 4, 6, 8, 12, 16, ... (powers of two and
    /// halfway between), up to 128, a chunk in every granule.
    fn capacity_for(n: usize) -> usize {
        let p = n.next_power_of_two();
        if p / 4 * 3 >= n { p / 4 * 3 } else { p }
    }

    /// Puts `c` at index `i` of the records (`len` of them before).
    #[inline]
    fn insert_at(&mut self, i: usize, len: usize, c: Chunk) {
        if len < self.slots.len() {
            self.slots.copy_within(i..len, i + 1);
            self.slots[i] = c;
        } else {
            let mut v = Vec::with_capacity(Self::capacity_for(len + 1));
            v.extend_from_slice(&self.slots[..i]);
            v.push(c);
            v.extend_from_slice(&self.slots[i..len]);
            v.resize(v.capacity(), EMPTY_CHUNK);
            self.slots = v.into_boxed_slice();
        }
    }

    /// Takes out the record at index `i` (`len` of them before).
    #[inline]
    fn remove_at(&mut self, i: usize, len: usize) -> Chunk {
        let c = self.slots[i];
        self.slots.copy_within(i + 1..len, i);
        c
    }

    /// `Ok(index)` of the chunk at granule `k`, or `Err(index)` where it would go.
    #[inline]
    fn find(&self, k: u32) -> Result<usize, usize> {
        let (w, b) = ((k >> 6) as usize, k & 63);
        let below = if w == 0 {
            (self.bits[0] & ((1u64 << b) - 1)).count_ones()
        } else {
            self.bits[0].count_ones() + (self.bits[1] & ((1u64 << b) - 1)).count_ones()
        } as usize;
        if self.bits[w] >> b & 1 == 1 {
            Ok(below)
        } else {
            Err(below)
        }
    }

    fn set(&mut self, k: u32, on: bool) {
        let (w, b) = ((k >> 6) as usize, k & 63);
        if on {
            self.bits[w] |= 1 << b;
        } else {
            self.bits[w] &= !(1 << b);
        }
    }
}

impl ChunkMap {
    /// The group's address and the granule within it; `None` when not 16-byte aligned.
    #[inline]
    fn split(a: u64) -> Option<(u64, u32)> {
        (a & 15 == 0).then_some((a & !GROUP_MASK, ((a & GROUP_MASK) >> 4) as u32))
    }

    #[inline]
    fn dense_index(&self, g: u64) -> Option<usize> {
        let base = self.base?;
        let i = g.checked_sub(base)? >> GROUP_SHIFT;
        (i < self.dense.len() as u64).then_some(i as usize)
    }

    #[inline]
    fn group(&self, g: u64) -> Option<&Group> {
        match self.dense_index(g) {
            Some(i) => Some(&self.dense[i]),
            None => self.sparse.get(&g),
        }
    }

    #[inline]
    fn group_mut(&mut self, g: u64) -> Option<&mut Group> {
        match self.dense_index(g) {
            Some(i) => Some(&mut self.dense[i]),
            None => self.sparse.get_mut(&g),
        }
    }

    /// The group for a new chunk at `g`, created (and the dense vector grown) as needed.
    fn group_for_insert(&mut self, g: u64, state: State) -> &mut Group {
        if self.base.is_none() && state != State::Mmapped {
            self.base = Some(g);
        }
        if let Some(base) = self.base
            && let Some(i) = g.checked_sub(base).map(|d| d >> GROUP_SHIFT)
            && i < self.dense.len() as u64 + MAX_DENSE_GAP
        {
            let i = i as usize;
            if i >= self.dense.len() {
                let n = (i + 1).max(self.dense.len() + self.dense.len() / 2);
                self.dense.resize_with(n, Group::default);
                // Groups the vector now covers move into it: a group is in one place.
                let end = base + ((n as u64) << GROUP_SHIFT);
                let moving: Vec<u64> = self
                    .sparse
                    .keys()
                    .copied()
                    .filter(|&k| k >= base && k < end)
                    .collect();
                for k in moving {
                    if let Some(grp) = self.sparse.remove(&k) {
                        self.dense[((k - base) >> GROUP_SHIFT) as usize] = grp;
                    }
                }
            }
            return &mut self.dense[i];
        }
        self.sparse.entry(g).or_default()
    }

    #[inline]
    pub(super) fn get(&self, a: &u64) -> Option<&Chunk> {
        let Some((g, k)) = Self::split(*a) else {
            return self.odd.get(a);
        };
        let v = self.group(g)?;
        v.find(k).ok().map(|i| &v.slots[i])
    }

    #[inline]
    pub(super) fn get_mut(&mut self, a: &u64) -> Option<&mut Chunk> {
        let Some((g, k)) = Self::split(*a) else {
            return self.odd.get_mut(a);
        };
        let v = self.group_mut(g)?;
        match v.find(k) {
            Ok(i) => Some(&mut v.slots[i]),
            Err(_) => None,
        }
    }

    /// Adds or replaces the record at `a`, returning the one replaced. The new record
    /// has no nextsize links; the old one's are forgotten.
    pub(super) fn insert(&mut self, a: u64, mut c: Chunk) -> Option<Chunk> {
        c.set_bit(LINKS_BIT, false);
        let old = self.insert_record(a, c);
        if let Some(old) = &old
            && old.has_links()
        {
            self.links.remove(&a);
        }
        old
    }

    fn insert_record(&mut self, a: u64, c: Chunk) -> Option<Chunk> {
        let Some((g, k)) = Self::split(a) else {
            let old = self.odd.insert(a, c);
            if old.is_none() {
                self.len += 1;
            }
            return old;
        };
        let v = self.group_for_insert(g, c.state());
        match v.find(k) {
            Ok(i) => Some(std::mem::replace(&mut v.slots[i], c)),
            Err(i) => {
                let len = v.len();
                v.insert_at(i, len, c);
                v.set(k, true);
                self.len += 1;
                None
            }
        }
    }

    /// Removes the record at `a` (and its nextsize links), returning it.
    pub(super) fn remove(&mut self, a: &u64) -> Option<Chunk> {
        let old = self.remove_record(a);
        if let Some(old) = &old
            && old.has_links()
        {
            self.links.remove(a);
        }
        old
    }

    fn remove_record(&mut self, a: &u64) -> Option<Chunk> {
        let Some((g, k)) = Self::split(*a) else {
            let old = self.odd.remove(a);
            if old.is_some() {
                self.len -= 1;
            }
            return old;
        };
        let dense = self.dense_index(g).is_some();
        let v = self.group_mut(g)?;
        let i = v.find(k).ok()?;
        let len = v.len();
        let c = v.remove_at(i, len);
        v.set(k, false);
        if len == 1 {
            if dense {
                // Give the emptied group's memory back.
                v.slots = Box::default();
            } else {
                self.sparse.remove(&g);
            }
        }
        self.len -= 1;
        Some(c)
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The nextsize links of the chunk at `a`: `[fd_nextsize, bk_nextsize]`, NULL for
    /// a chunk that never had any set.
    #[inline]
    pub(super) fn links(&self, a: u64) -> Links {
        if self.links.is_empty() {
            return [0, 0];
        }
        self.links.get(&a).copied().unwrap_or_default()
    }

    /// Sets link `which` (0: `fd_nextsize`, 1: `bk_nextsize`) of the chunk at `a`.
    pub(super) fn set_link(&mut self, a: u64, which: usize, v: u64) {
        if let Some(links) = self.links.get_mut(&a) {
            // An entry exists only for a record marked as having one.
            links[which] = v;
            return;
        }
        let Some(c) = self.get_mut(&a) else {
            debug_assert!(false, "glibc model: no chunk at {a:#x}");
            return;
        };
        c.set_bit(LINKS_BIT, true);
        self.links.entry(a).or_default()[which] = v;
    }

    /// Sets both links of the chunk at `a` to NULL.
    pub(super) fn clear_links(&mut self, a: u64) {
        if self.links.remove(&a).is_some()
            && let Some(c) = self.get_mut(&a)
        {
            c.set_bit(LINKS_BIT, false);
        }
    }

    /// Every record with its address, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &Chunk)> {
        let base = self.base.unwrap_or(0);
        let dense = self
            .dense
            .iter()
            .enumerate()
            .map(move |(i, v)| (base + ((i as u64) << GROUP_SHIFT), v));
        let sparse = self.sparse.iter().map(|(&g, v)| (g, v));
        dense
            .chain(sparse)
            .flat_map(|(g, v)| {
                let mut bits = v.bits;
                v.chunks().iter().map(move |c| {
                    let w = usize::from(bits[0] == 0);
                    let k = bits[w].trailing_zeros() + 64 * w as u32;
                    bits[w] &= bits[w] - 1;
                    (g + (u64::from(k) << 4), c)
                })
            })
            .chain(self.odd.iter().map(|(&a, c)| (a, c)))
    }
}

pub(super) const EMPTY_CHUNK: Chunk = Chunk::new(0, true, State::InUse);

impl Glibc {
    // ----- the chunk map -------------------------------------------------------

    #[inline]
    pub(super) fn ch(&self, a: u64) -> &Chunk {
        match self.chunks.get(&a) {
            Some(c) => c,
            None => {
                debug_assert!(false, "glibc model: no chunk at {a:#x}");
                &EMPTY_CHUNK
            }
        }
    }

    #[inline]
    pub(super) fn chm(&mut self, a: u64) -> &mut Chunk {
        match self.chunks.get_mut(&a) {
            Some(c) => c,
            None => {
                debug_assert!(false, "glibc model: no chunk at {a:#x}");
                &mut self.scratch
            }
        }
    }

    #[inline]
    pub(super) fn size_of(&self, a: u64) -> u64 {
        self.ch(a).size()
    }

    /// Adds a chunk record (its state counted in the statistics).
    pub(super) fn new_chunk(&mut self, a: u64, size: u64, prev_inuse: bool, state: State) {
        let c = Chunk::new(size, prev_inuse, state);
        self.count_in(state, size);
        if let Some(old) = self.chunks.insert(a, c) {
            self.count_out(old.state(), old.size());
            self.forget_unsorted(&old);
        }
    }

    /// Forgets a chunk that was merged into a neighbour.
    pub(super) fn drop_chunk(&mut self, a: u64) {
        if let Some(old) = self.chunks.remove(&a) {
            self.count_out(old.state(), old.size());
            self.forget_unsorted(&old);
        }
    }

    /// Counts chunk `a` (its size set) as a member of the unsorted bin.
    pub(super) fn unsorted_add(&mut self, a: u64) {
        let c = self.chm(a);
        if c.unsorted() {
            return;
        }
        c.set_unsorted(true);
        let size = c.size();
        self.unsorted_joined(size);
    }

    /// A chunk of `size` joined the unsorted bin: it may be the new largest there.
    #[inline]
    pub(super) fn unsorted_joined(&self, size: u64) {
        self.unsorted_max.set(self.unsorted_max.get().max(size));
    }

    /// Chunk `a` leaves the unsorted bin (nothing happens when it was not in it).
    pub(super) fn unsorted_remove(&mut self, a: u64) {
        let c = self.chm(a);
        if !c.unsorted() {
            return;
        }
        let old = *c;
        c.set_unsorted(false);
        self.forget_unsorted(&old);
    }

    /// Chunk record `old` left the unsorted bin: when it may have been the largest
    /// there, the kept largest becomes a bound to check by a walk.
    pub(super) fn forget_unsorted(&self, old: &Chunk) {
        if old.unsorted() && old.size() >= self.unsorted_max.get() {
            self.unsorted_stale.set(true);
        }
    }

    #[inline]
    pub(super) fn set_state(&mut self, a: u64, s: State) {
        let c = self.chm(a);
        let (old, size) = (c.state(), c.size());
        c.set_state(s);
        self.recount(old, s, size);
    }

    /// A chunk of `size` went from state `from` to `to`: the running sums follow.
    #[inline]
    pub(super) fn recount(&mut self, from: State, to: State, size: u64) {
        self.count_out(from, size);
        self.count_in(to, size);
    }

    pub(super) fn count_in(&mut self, s: State, size: u64) {
        match s {
            State::Bin => {
                self.binned_count += 1;
                self.binned_bytes = self.binned_bytes.wrapping_add(size);
            }
            State::Fast => {
                self.fast_count += 1;
                self.fast_bytes = self.fast_bytes.wrapping_add(size);
            }
            _ => {}
        }
    }

    pub(super) fn count_out(&mut self, s: State, size: u64) {
        match s {
            State::Bin => {
                self.binned_count = self.binned_count.wrapping_sub(1);
                self.binned_bytes = self.binned_bytes.wrapping_sub(size);
            }
            State::Fast => {
                self.fast_count = self.fast_count.wrapping_sub(1);
                self.fast_bytes = self.fast_bytes.wrapping_sub(size);
            }
            _ => {}
        }
    }

    // ----- metadata writes, queued and flushed to the kernel ----------------------

    /// Queues a write of `len` bytes at `addr` (glibc storing metadata). A write
    /// within one page already written in this batch adds nothing at page level and
    /// is merged away.
    pub(super) fn w(&mut self, addr: u64, len: u64) {
        if len == 0 {
            return;
        }
        let page = addr / PAGE_SIZE;
        let one_page = addr.saturating_add(len - 1) / PAGE_SIZE == page;
        if one_page {
            if page == self.last_dirty_page {
                return;
            }
            let recent = self.dirty.len().saturating_sub(8);
            if self.dirty[recent..].iter().any(|&(a, l, acc)| {
                acc == Access::Write && a / PAGE_SIZE == page && (a + l - 1) / PAGE_SIZE == page
            }) {
                self.last_dirty_page = page;
                return;
            }
        }
        self.last_dirty_page = if one_page { page } else { u64::MAX };
        self.dirty.push((addr, len, Access::Write));
    }

    /// Queues a read (memcpy's source).
    pub(super) fn r(&mut self, addr: u64, len: u64) {
        if len > 0 {
            self.dirty.push((addr, len, Access::Read));
            self.last_dirty_page = u64::MAX;
        }
    }

    /// Performs the queued accesses; the first fault is kept for the caller.
    pub(super) fn flush(&mut self, k: &mut Kernel) {
        for (addr, len, access) in self.dirty.drain(..) {
            if let Err(f) = k.touch(addr, len, access) {
                self.fault.get_or_insert(f);
            }
        }
        self.last_dirty_page = u64::MAX;
    }

    /// `set_head`: writes a chunk's size word.
    pub(super) fn w_head(&mut self, p: u64) {
        self.w(p + SIZE_SZ, SIZE_SZ);
    }

    // ----- boundary tags of the next chunk ----------------------------------------

    /// `set_foot`: a free chunk's size is repeated in the next chunk's `prev_size`,
    /// so that a later free of that next chunk can find the start of this one.
    pub(super) fn set_foot(&mut self, p: u64, size: u64) {
        let next = p + size;
        if next != self.top {
            self.chm(next).prev_size = size;
        }
        self.w(next, SIZE_SZ);
    }

    /// `set_inuse_bit_at_offset`: marks the chunk at `p + size` as having a busy
    /// predecessor.
    pub(super) fn set_inuse_bit_at_offset(&mut self, p: u64, size: u64) {
        let next = p + size;
        if next != self.top {
            self.chm(next).set_prev_inuse(true);
        }
        self.w_head(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group's slots grow along 1, 2, 3, 4, 6, 8, 12, ... up to a chunk per granule.
    #[test]
    fn group_capacities_follow_the_ladder() {
        let ladder: Vec<usize> = (1..=128).map(Group::capacity_for).collect();
        let mut steps = ladder.clone();
        steps.dedup();
        assert_eq!(steps, [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]);
        assert!((1..=128).all(|n| ladder[n - 1] >= n));
    }

    /// Nextsize links read as NULL until set, survive changes to the record, and go
    /// with the record when it is replaced or removed.
    #[test]
    fn nextsize_links_live_as_long_as_their_record() {
        let mut m = ChunkMap::default();
        let (a, b) = (0x5555_5555_0000u64, 0x5555_5555_0400u64);
        m.insert(a, Chunk::new(1024, true, State::Bin));
        m.insert(b, Chunk::new(2048, true, State::Bin));
        assert_eq!(m.links(a), [0, 0]);
        m.set_link(a, 0, b);
        m.set_link(a, 1, a);
        m.set_link(b, 1, a);
        assert_eq!((m.links(a), m.links(b)), ([b, a], [0, a]));
        let c = m.get_mut(&a).unwrap();
        c.set_size(4096);
        c.set_state(State::InUse);
        c.set_prev_inuse(false);
        c.set_unsorted(true);
        let c = *m.get(&a).unwrap();
        assert_eq!(
            (c.size(), c.state(), c.prev_inuse(), c.unsorted()),
            (4096, State::InUse, false, true)
        );
        assert_eq!(m.links(a), [b, a], "the links stay while the record does");
        m.clear_links(b);
        assert_eq!(m.links(b), [0, 0]);
        // A new record at the same address starts without links.
        m.insert(a, Chunk::new(32, true, State::InUse));
        assert_eq!(m.links(a), [0, 0]);
        m.set_link(a, 0, 7);
        m.remove(&a);
        m.insert(a, Chunk::new(32, true, State::InUse));
        assert_eq!(m.links(a), [0, 0]);
        assert!(m.links.is_empty());
        // The head word's fields do not disturb each other.
        for s in [
            State::InUse,
            State::Meta,
            State::Fence,
            State::Tcache,
            State::Fast,
            State::Bin,
            State::Mmapped,
        ] {
            for prev in [false, true] {
                let size = (1 << 47) - 16;
                let c = Chunk::new(size, prev, s);
                assert_eq!(
                    (c.size(), c.state(), c.prev_inuse(), c.unsorted()),
                    (size, s, prev, false)
                );
            }
        }
    }

    /// The grouped map answers as a plain map does, for heap addresses, far mappings,
    /// addresses below the heap and unaligned ones, as chunks come and go.
    #[test]
    fn the_chunk_map_is_a_map() {
        let mut m = ChunkMap::default();
        let mut want: HashMap<u64, u64> = HashMap::new();
        let mut x: u64 = 12345;
        let base = 0x5555_5555_0000u64;
        for step in 0..200_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = match (x >> 60) % 8 {
                0 => 0x7fff_0000_0000 + ((x >> 20) % 64) * 4096,
                1 => base - 16 * ((x >> 20) % 300),
                2 => base + 8 + 16 * ((x >> 20) % 50),
                _ => base + 16 * ((x >> 20) % (2000 + step / 10)),
            };
            let state = if a >= 0x7fff_0000_0000 {
                State::Mmapped
            } else {
                State::InUse
            };
            if (x >> 33).is_multiple_of(3) {
                assert_eq!(
                    m.remove(&a).map(|c| c.size()),
                    want.remove(&a),
                    "remove {a:#x}"
                );
            } else {
                let c = Chunk::new(step, true, state);
                assert_eq!(m.insert(a, c).map(|c| c.size()), want.insert(a, step));
            }
            assert_eq!(m.get(&a).map(|c| c.size()), want.get(&a).copied());
            if let Some(c) = m.get_mut(&a) {
                c.prev_size = a;
            }
            assert_eq!(m.len(), want.len());
        }
        let mut got: Vec<(u64, u64)> = m.iter().map(|(a, c)| (a, c.size())).collect();
        got.sort_unstable();
        let mut all: Vec<(u64, u64)> = want.into_iter().collect();
        all.sort_unstable();
        assert_eq!(got, all);
        assert!(m.iter().all(|(a, c)| c.prev_size == a));
    }
}
