//! Talking to the kernel: heap growth (`sysmalloc`), heap shrinking (`systrim`,
//! `malloc_trim`) and chunks with mappings of their own.

use super::layout::*;
use super::{Glibc, State, SyscallEvent};
use kernel::{Advice, Kernel, MapFlags, MremapFlags, PAGE_SIZE, Prot};

impl Glibc {
    fn log(&mut self, e: SyscallEvent) {
        if let Some(r) = &mut self.record {
            r.push(e);
        }
    }

    // ANCHOR: morecore
    /// `MORECORE` (libc's `sbrk`): moves the break by `increment` and returns the old
    /// break, `None` on failure. The first use in a process first asks the kernel
    /// where the break is (`brk(NULL)`), as libc's `sbrk` does; `sbrk(0)` after that
    /// is answered from libc's cache without a syscall.
    fn morecore(&mut self, k: &mut Kernel, increment: i64) -> Option<u64> {
        self.flush(k);
        if !self.brk_known {
            self.brk_known = true;
            let brk = k.brk(0);
            self.log(SyscallEvent::BrkQuery { brk });
        }
        let r = k.sbrk(increment);
        if increment != 0 {
            self.log(SyscallEvent::Sbrk {
                increment,
                ok: r.is_ok(),
            });
        }
        r.ok()
    }
    // ANCHOR_END: morecore

    /// An anonymous read-write mapping of `len` bytes.
    fn sys_mmap(&mut self, k: &mut Kernel, len: u64) -> Option<u64> {
        self.flush(k);
        let r = k.mmap(0, len, Prot::RW, MapFlags::NONE).ok();
        self.log(SyscallEvent::Mmap { len, addr: r });
        r
    }

    /// `sysmalloc`: top cannot serve `nb` bytes, so get memory from the system.
    ///
    /// - At or above the mmap threshold (while fewer than `mmap_max` chunks are
    ///   mapped), the chunk gets a mapping of its own of `ALIGN_UP(nb + 8, 4096)`
    ///   bytes: it has no successor whose `prev_size` word it could borrow.
    /// - Otherwise the heap grows with `sbrk` by `nb + top_pad + MINSIZE` minus what
    ///   top already has, rounded up to whole pages. The padding makes the next
    ///   growths rarer; MINSIZE keeps a top chunk after the split.
    /// - If `sbrk` fails (the break ran into a mapping or a limit), a mapping stands
    ///   in (the first one rounded up to whole MiB); the arena is then
    ///   non-contiguous for good, and the old top is closed with two fenceposts and
    ///   freed.
    pub(super) fn sysmalloc(&mut self, k: &mut Kernel, nb: u64) -> Option<u64> {
        let pagesize = PAGE_SIZE;
        // ANCHOR: sysmalloc_mmap
        if nb >= self.p.mmap_threshold && self.n_mmaps < self.p.n_mmaps_max {
            let size = align_up(nb.wrapping_add(SIZE_SZ), pagesize);
            if size > nb
                && let Some(mm) = self.sys_mmap(k, size)
            {
                self.new_chunk(mm, size, true, State::Mmapped);
                // set_prev_size (offset 0) and set_head with IS_MMAPPED.
                self.w(mm, CHUNK_HDR_SZ);
                self.n_mmaps += 1;
                self.mmapped_mem = self.mmapped_mem.wrapping_add(size);
                return Some(mm);
            }
        }
        // ANCHOR_END: sysmalloc_mmap

        let old_top = self.top;
        let old_size = self.top_size;
        let old_end = old_top.wrapping_add(old_size);
        let mut brk: Option<u64> = None;
        let mut snd_brk: Option<u64> = None;

        // ANCHOR: sysmalloc_grow
        let mut size = nb.wrapping_add(self.p.top_pad).wrapping_add(MINSIZE);
        if self.contiguous {
            // We hope to extend top in place, so only the missing part is needed.
            size = size.wrapping_sub(old_size);
        }
        size = align_up(size, pagesize);
        // sbrk takes a signed increment; glibc skips it when the size looks negative.
        if (size as i64) > 0 {
            brk = self.morecore(k, size as i64);
        }
        // ANCHOR_END: sysmalloc_grow

        // ANCHOR: sysmalloc_fallback
        if brk.is_none() {
            // mmap as a backup for sbrk: the new space cannot merge with old top, so
            // its size is added back. glibc 2.35 and 2.36 pass the page size and
            // MMAP_AS_MORECORE_SIZE to `sysmalloc_mmap_fallback` in swapped order:
            // the first fallback (contiguous arena) is rounded up to a whole MiB,
            // later ones are only page-rounded (minimum one page), as measured.
            if self.contiguous {
                size = align_up(size.wrapping_add(old_size), MMAP_AS_MORECORE_SIZE);
            }
            if size < pagesize {
                size = pagesize;
            }
            if size > nb
                && let Some(mbrk) = self.sys_mmap(k, size)
            {
                brk = Some(mbrk);
                snd_brk = Some(mbrk.wrapping_add(size));
                self.contiguous = false;
                self.fallback_regions.push((mbrk, mbrk.wrapping_add(size)));
            }
        }
        // ANCHOR_END: sysmalloc_fallback

        if let Some(brk) = brk {
            if self.sbrk_base == 0 {
                self.sbrk_base = brk;
            }
            self.system_mem = self.system_mem.wrapping_add(size);

            if brk == old_end && snd_brk.is_none() {
                // The usual case: the new space extends top.
                self.top_size = old_size.wrapping_add(size);
                self.w_head(old_top);
            } else if self.contiguous && old_size != 0 && brk < old_end {
                // "break adjusted to free malloc space": glibc aborts. Only this model
                // moves the break, so this cannot happen; fail the request.
                return None;
            } else {
                // First growth, a foreign sbrk in between, or non-contiguous space:
                // align the start, then (contiguous case) ask for the bytes that
                // complete the last page with a second sbrk.
                let mut correction: u64 = 0;
                let mut aligned_brk = brk;
                if self.contiguous {
                    if old_size != 0 {
                        // Count foreign sbrk'd space as ours.
                        self.system_mem = self.system_mem.wrapping_add(brk - old_end);
                    }
                    let front_misalign = (brk + CHUNK_HDR_SZ) & MALLOC_ALIGN_MASK;
                    if front_misalign > 0 {
                        correction = MALLOC_ALIGNMENT - front_misalign;
                        aligned_brk += correction;
                    }
                    correction += old_size;
                    let end_misalign = brk.wrapping_add(size).wrapping_add(correction);
                    correction += align_up(end_misalign, pagesize) - end_misalign;
                    snd_brk = self.morecore(k, correction as i64);
                    if snd_brk.is_none() {
                        correction = 0;
                        snd_brk = self.morecore(k, 0);
                    }
                } else if snd_brk.is_none() {
                    snd_brk = self.morecore(k, 0);
                }

                if let Some(snd_brk) = snd_brk {
                    self.top = aligned_brk;
                    self.top_size = snd_brk.wrapping_sub(aligned_brk).wrapping_add(correction);
                    self.system_mem = self.system_mem.wrapping_add(correction);
                    self.w_head(aligned_brk);
                    if old_size != 0 {
                        self.fence_old_top(k, old_top, old_size);
                    }
                }
            }
        }

        if self.system_mem > self.max_system_mem {
            self.max_system_mem = self.system_mem;
        }

        if self.top_size >= nb.wrapping_add(MINSIZE) && self.top != 0 {
            return Some(self.split_top(nb));
        }
        None
    }

    /// Closes a top chunk that the heap can no longer extend: two 16-byte in-use
    /// "fenceposts" at its end stop coalescing into space we do not own, and the rest
    /// (if at least MINSIZE) is freed like any chunk.
    fn fence_old_top(&mut self, k: &mut Kernel, old_top: u64, old_size: u64) {
        let rest = old_size.saturating_sub(2 * CHUNK_HDR_SZ) & !MALLOC_ALIGN_MASK;
        self.new_chunk(old_top + rest, CHUNK_HDR_SZ, true, State::Fence);
        self.new_chunk(
            old_top + rest + CHUNK_HDR_SZ,
            CHUNK_HDR_SZ,
            true,
            State::Fence,
        );
        self.w(old_top + rest + SIZE_SZ, 3 * SIZE_SZ);
        if rest > 0 {
            // The shrunk old top (when it is only 16 bytes it stays an unusable stub).
            let state = if rest >= MINSIZE {
                State::InUse
            } else {
                State::Fence
            };
            self.new_chunk(old_top, rest, true, state);
            self.w_head(old_top);
            if rest >= MINSIZE {
                self.int_free(k, old_top, rest);
            }
        }
    }

    // ANCHOR: systrim
    /// `systrim`: gives the top of the heap back with a negative `sbrk`, keeping
    /// `pad` bytes plus MINSIZE in top. Only when the break is still where top ends
    /// (nobody else moved it). Returns true when memory was released.
    ///
    /// The arithmetic follows glibc's C types exactly, including its quirk with a
    /// top of exactly MINSIZE bytes (the "release" amount then goes negative and
    /// `sbrk` grows the heap by a page).
    pub(super) fn systrim(&mut self, k: &mut Kernel, pad: u64) -> bool {
        let top_size = self.top_size as i64;
        let top_area = top_size - MINSIZE as i64 - 1;
        if (top_area as u64) <= pad {
            return false;
        }
        let extra = ((top_area as u64).wrapping_sub(pad) & !(PAGE_SIZE - 1)) as i64;
        if extra == 0 {
            return false;
        }
        let current_brk = match self.morecore(k, 0) {
            Some(b) => b,
            None => return false,
        };
        if current_brk == self.top.wrapping_add(self.top_size) {
            // Ignore the result; look at where the break is now instead.
            let _ = self.morecore(k, extra.wrapping_neg());
            let new_brk = match self.morecore(k, 0) {
                Some(b) => b,
                None => return false,
            };
            let released = current_brk.wrapping_sub(new_brk);
            if released != 0 {
                self.system_mem = self.system_mem.wrapping_sub(released);
                self.top_size = self.top_size.wrapping_sub(released);
                self.w_head(self.top);
                return true;
            }
        }
        false
    }
    // ANCHOR_END: systrim

    // ANCHOR: mtrim
    /// `mtrim`, the body of `malloc_trim(pad)`: consolidate, then give back with
    /// `madvise(MADV_DONTNEED)` every whole page inside free chunks of the unsorted
    /// bin and of the bins from the 4 KiB class up (the first 48 bytes of a chunk
    /// hold its header and links and are kept), then trim top with `pad`.
    pub(super) fn mtrim(&mut self, k: &mut Kernel, pad: u64) -> bool {
        self.malloc_consolidate();
        let ps = PAGE_SIZE;
        let psindex = bin_index(ps);
        let mut result = false;
        for i in 1..NBINS {
            if i != UNSORTED && i < psindex {
                continue;
            }
            let mut p = self.bins[i].bk;
            while !Self::is_bin(p) {
                let size = self.size_of(p);
                if size > ps - 1 + MALLOC_CHUNK_STRUCT {
                    let paligned = (p + MALLOC_CHUNK_STRUCT + ps - 1) & !(ps - 1);
                    let rest = size - (paligned - p);
                    if rest > ps - 1 {
                        self.flush(k);
                        let len = rest & !(ps - 1);
                        let _ = k.madvise(paligned, len, Advice::DontNeed);
                        self.log(SyscallEvent::MadviseDontNeed {
                            addr: paligned,
                            len,
                        });
                        result = true;
                    }
                }
                p = self.bk(p);
            }
        }
        self.systrim(k, pad) || result
    }
    // ANCHOR_END: mtrim

    /// `munmap_chunk`: a mapped chunk goes back to the kernel whole.
    pub(super) fn munmap_chunk(&mut self, k: &mut Kernel, p: u64) {
        let c = *self.ch(p);
        let block = p - c.prev_size;
        let total = c.prev_size + c.size();
        self.n_mmaps = self.n_mmaps.wrapping_sub(1);
        self.mmapped_mem = self.mmapped_mem.wrapping_sub(total);
        self.drop_chunk(p);
        self.flush(k);
        let _ = k.munmap(block, total);
        self.log(SyscallEvent::Munmap {
            addr: block,
            len: total,
        });
    }

    /// `mremap_chunk`: resizes a mapped chunk's mapping to `ALIGN_UP(nb + 8, 4096)`
    /// bytes, letting the kernel move it. Small sizes stay mapped (realloc never
    /// moves a mapped chunk back into the heap this way). No syscall when the page
    /// count does not change. `None` when the kernel refuses.
    pub(super) fn mremap_chunk(&mut self, k: &mut Kernel, p: u64, nb: u64) -> Option<u64> {
        let c = *self.ch(p);
        let offset = c.prev_size;
        let block = p - offset;
        let total = offset + c.size();
        let new_size = align_up(nb.wrapping_add(offset).wrapping_add(SIZE_SZ), PAGE_SIZE);
        if total == new_size {
            return Some(p);
        }
        self.flush(k);
        let r = k.mremap(block, total, new_size, MremapFlags::MAYMOVE).ok();
        self.log(SyscallEvent::Mremap {
            old_addr: block,
            old_len: total,
            new_len: new_size,
            new_addr: r,
        });
        let cp = r?;
        let np = cp + offset;
        self.drop_chunk(p);
        self.new_chunk(np, new_size - offset, true, State::Mmapped);
        self.chm(np).prev_size = offset;
        self.w_head(np);
        self.mmapped_mem = self.mmapped_mem.wrapping_add(new_size).wrapping_sub(total);
        Some(np)
    }
}
