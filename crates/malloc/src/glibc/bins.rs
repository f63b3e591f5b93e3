//! Bins: the doubly linked lists free chunks wait in.
//!
//! Bin 1 is the *unsorted* bin, where every freed or split-off chunk lands first; bins
//! 2 to 63 are *smallbins* of one size each; bins 64 to 126 are *largebins* of size
//! ranges, sorted by size, with a second "nextsize" list that skips runs of equal
//! sizes. A bin's head is a pair of links like a chunk's, so a list is circular
//! through its head: an empty bin's head points to itself. The model names a head by
//! its bin index, which no chunk address can be, so one link setter serves heads and
//! chunks alike. The `binmap` marks bins that may be non-empty so that the best-fit
//! search can skip the empty ones.

use super::Glibc;
use super::chunks::State;
use super::layout::{NBINS, SIZE_SZ, UNSORTED, in_smallbin_range};

/// A bin's list head: `fd` is the first chunk, `bk` the last; an empty bin points to
/// itself. Bin heads are named by their index (1..=127), which no chunk address can
/// be.
#[derive(Copy, Clone, Debug)]
pub(super) struct BinHead {
    pub(super) fd: u64,
    pub(super) bk: u64,
}

impl Glibc {
    pub(super) fn is_bin(n: u64) -> bool {
        n < NBINS as u64
    }

    pub(super) fn bk(&self, n: u64) -> u64 {
        if Self::is_bin(n) {
            self.bins[n as usize].bk
        } else {
            self.ch(n).bk
        }
    }

    pub(super) fn set_fd(&mut self, n: u64, v: u64) {
        if Self::is_bin(n) {
            self.bins[n as usize].fd = v;
        } else {
            self.chm(n).fd = v;
            self.w(n + 2 * SIZE_SZ, SIZE_SZ);
        }
    }

    pub(super) fn set_bk(&mut self, n: u64, v: u64) {
        if Self::is_bin(n) {
            self.bins[n as usize].bk = v;
        } else {
            self.chm(n).bk = v;
            self.w(n + 3 * SIZE_SZ, SIZE_SZ);
        }
    }

    /// A largebin chunk's `fd_nextsize`: the first chunk of the next smaller size run
    /// (0 = NULL).
    pub(super) fn fd_nextsize(&self, n: u64) -> u64 {
        self.chunks.links(n)[0]
    }

    /// A largebin chunk's `bk_nextsize`: the first chunk of the next larger size run
    /// (0 = NULL).
    pub(super) fn bk_nextsize(&self, n: u64) -> u64 {
        self.chunks.links(n)[1]
    }

    pub(super) fn set_fd_nextsize(&mut self, n: u64, v: u64) {
        self.chunks.set_link(n, 0, v);
        self.w(n + 4 * SIZE_SZ, SIZE_SZ);
    }

    pub(super) fn set_bk_nextsize(&mut self, n: u64, v: u64) {
        self.chunks.set_link(n, 1, v);
        self.w(n + 5 * SIZE_SZ, SIZE_SZ);
    }

    /// Puts free chunk `p` (size already set) at the head of the unsorted bin.
    pub(super) fn link_unsorted_head(&mut self, p: u64) {
        let bck = UNSORTED as u64;
        let fwd = self.bins[UNSORTED].fd;
        // One lookup of p's record for its links, state and unsorted mark (this is
        // on every free that reaches the bins and every consolidated chunk).
        let c = self.chm(p);
        c.fd = fwd;
        c.bk = bck;
        let (size, old, was_unsorted, links) = (c.size(), c.state(), c.unsorted(), c.has_links());
        c.set_state(State::Bin);
        c.set_unsorted(true);
        self.recount(old, State::Bin, size);
        if !was_unsorted {
            self.unsorted_joined(size);
        }
        if !in_smallbin_range(size) && links {
            self.chunks.clear_links(p);
        }
        self.w(
            p + 2 * SIZE_SZ,
            if in_smallbin_range(size) { 16 } else { 32 },
        );
        self.bins[UNSORTED].fd = p;
        self.set_bk(fwd, p);
    }

    /// `unlink_chunk`: takes a free chunk out of whatever bin list it is in, keeping
    /// a largebin's nextsize skip list consistent.
    pub(super) fn unlink_chunk(&mut self, p: u64) {
        // One lookup of p's record: it leaves the unsorted mark and becomes in use
        // here, before the neighbours' links change (none of which is p's record).
        let rec = self.chm(p);
        let c = *rec;
        rec.set_unsorted(false);
        rec.set_state(State::InUse);
        self.forget_unsorted(&c);
        self.recount(c.state(), State::InUse, c.size());
        let (fd, bk) = (c.fd, c.bk);
        self.set_bk(fd, bk);
        self.set_fd(bk, fd);
        let [fd_nextsize, bk_nextsize] = self.chunks.links(p);
        if !in_smallbin_range(c.size()) && fd_nextsize != 0 {
            // `fd` may be the bin head, whose "fd_nextsize" word is really the next
            // bin's `fd`: never NULL.
            let fd_first_of_run = Self::is_bin(fd) || self.fd_nextsize(fd) != 0;
            if !fd_first_of_run {
                // p led a run of equal sizes: fd takes over its place in the skip list.
                if fd_nextsize == p {
                    self.set_fd_nextsize(fd, fd);
                    self.set_bk_nextsize(fd, fd);
                } else {
                    self.set_fd_nextsize(fd, fd_nextsize);
                    self.set_bk_nextsize(fd, bk_nextsize);
                    self.set_bk_nextsize(fd_nextsize, fd);
                    self.set_fd_nextsize(bk_nextsize, fd);
                }
            } else {
                self.set_bk_nextsize(fd_nextsize, bk_nextsize);
                self.set_fd_nextsize(bk_nextsize, fd_nextsize);
            }
        }
    }

    pub(super) fn mark_bin(&mut self, i: usize) {
        self.binmap[i >> 5] |= 1u32 << (i & 31);
    }
}
