//! Memory with contents: the byte-storing mode of `Kernel::write` and `Kernel::read`.
//!
//! The bytes follow the frames: whatever the kernel does to frames (fault in, free,
//! move, reclaim, exit) it does to the bytes, and the accesses are exactly `touch`es
//! in everything else (faults, TLB, protection, costs).

use kernel::{
    Access, Advice, ByteStats, Fault, HUGE_PAGE_SIZE, Kernel, KernelConfig, MapFlags, MremapFlags,
    PAGE_SIZE, PageState, Prot, SegvReason,
};
use proptest::prelude::*;

const P: u64 = PAGE_SIZE;

fn kernel() -> Kernel {
    Kernel::new(KernelConfig {
        store_bytes: true,
        ..KernelConfig::default()
    })
}

fn consistent(k: &Kernel) {
    if let Err(e) = k.check_consistency() {
        panic!("{e}");
    }
}

fn bytes(k: &mut Kernel, addr: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0xEE; len];
    k.read(addr, &mut b).unwrap();
    b
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn off_by_default_and_left_out_of_the_json_form() {
    let c = KernelConfig::default();
    assert!(!c.store_bytes);
    let json = serde_json::to_string(&c).unwrap();
    assert!(!json.contains("store_bytes"), "unchanged JSON while off");
    let on: KernelConfig = serde_json::from_str(r#"{"store_bytes": true}"#).unwrap();
    assert!(on.store_bytes);
    assert!(
        serde_json::to_string(&on)
            .unwrap()
            .contains("\"store_bytes\":true")
    );
    let k = Kernel::new(c);
    assert!(!k.stores_bytes());
    assert!(kernel().stores_bytes());
}

#[test]
fn written_bytes_read_back_across_pages_and_untouched_memory_reads_as_zeros() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    let data = pattern(6000, 7);
    k.write(a + P - 100, &data).unwrap();
    assert_eq!(bytes(&mut k, a + P - 100, 6000), data);
    assert_eq!(
        bytes(&mut k, a, 16),
        vec![0; 16],
        "written page, unwritten bytes"
    );
    assert_eq!(k.page_state(a + 3 * P), PageState::Unpopulated);
    assert_eq!(bytes(&mut k, a + 3 * P, 8), vec![0; 8]);
    assert_eq!(
        k.page_state(a + 3 * P),
        PageState::ZeroPage,
        "a first read maps the zero page, as touch does"
    );
    k.write_u64(a + 3 * P + 5, 0x0102_0304_0506_0708).unwrap();
    assert_eq!(k.read_u64(a + 3 * P + 5).unwrap(), 0x0102_0304_0506_0708);
    assert_eq!(bytes(&mut k, a + 3 * P + 5, 2), [8, 7], "little-endian");
    assert_eq!(k.byte_stats().stored_frames, 4, "pages 0 to 2, and 3");
    consistent(&k);
}

#[test]
fn an_access_is_a_touch_in_everything_but_the_bytes() {
    // The same accesses as touches on one kernel and as reads and writes on another
    // leave the same counters, costs and memory figures.
    let run = |bytes: bool| {
        let mut k = Kernel::new(KernelConfig::default());
        let a = k.mmap(0, 64 * P, Prot::RW, MapFlags::NONE).unwrap();
        for i in 0..40u64 {
            let (at, len) = (a + (i * 7919) % (60 * P), 1 + (i * 131) % 9000);
            let write = i % 3 != 0;
            if bytes {
                let mut buf = vec![i as u8; len as usize];
                if write {
                    k.write(at, &buf).unwrap();
                } else {
                    k.read(at, &mut buf).unwrap();
                }
            } else {
                let access = if write { Access::Write } else { Access::Read };
                k.touch(at, len, access).unwrap();
            }
        }
        (k.counters().clone(), k.ledger().clone(), k.mem())
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn protection_and_unmapped_pages_fault_as_touch_does_and_a_prefix_is_written() {
    let mut k = kernel();
    let a = k.mmap(0, 2 * P, Prot::RW, MapFlags::NONE).unwrap();
    let ro = k.mmap(0, P, Prot::READ, MapFlags::NONE).unwrap();
    let none = k.mmap(0, P, Prot::NONE, MapFlags::NONE).unwrap();
    let expect = |addr, access, reason| Fault::Segv {
        addr,
        access,
        reason,
    };
    assert_eq!(
        k.write(ro + 8, &[1]),
        Err(expect(ro + 8, Access::Write, SegvReason::Protection))
    );
    assert_eq!(
        k.read_u64(none),
        Err(expect(none, Access::Read, SegvReason::Protection))
    );
    assert_eq!(
        k.read_u64(0x1000_0000),
        Err(expect(0x1000_0000, Access::Read, SegvReason::Unmapped))
    );
    // A write running off the end of the mapping stores what came before the fault.
    k.munmap(a + P, P).unwrap();
    let data = pattern(200, 1);
    assert_eq!(
        k.write(a + P - 100, &data),
        Err(expect(a + P, Access::Write, SegvReason::Unmapped))
    );
    assert_eq!(bytes(&mut k, a + P - 100, 100), data[..100]);
    let mut buf = vec![9u8; 200];
    assert!(k.read(a + P - 100, &mut buf).is_err());
    assert_eq!(buf[..100], data[..100], "the readable prefix");
    assert_eq!(buf[100..], [9; 100], "the rest left as it was");
    consistent(&k);
}

#[test]
fn freeing_frames_drops_their_bytes() {
    let mut k = kernel();
    let a = k.mmap(0, 8 * P, Prot::RW, MapFlags::NONE).unwrap();
    k.write(a, &pattern(8 * P as usize, 3)).unwrap();
    assert_eq!(k.byte_stats().stored_frames, 8);
    // MADV_DONTNEED: the next access faults in a zeroed page.
    k.madvise(a, 2 * P, Advice::DontNeed).unwrap();
    assert_eq!(bytes(&mut k, a, 2 * P as usize), vec![0; 2 * P as usize]);
    assert_eq!(
        bytes(&mut k, a + 2 * P, 4),
        pattern(8 * P as usize, 3)[2 * P as usize..][..4]
    );
    // munmap, then a new mapping at the same address: zeros.
    k.munmap(a + 4 * P, 4 * P).unwrap();
    let b = k.mmap(a + 4 * P, 4 * P, Prot::RW, MapFlags::FIXED).unwrap();
    assert_eq!(bytes(&mut k, b, 4 * P as usize), vec![0; 4 * P as usize]);
    assert_eq!(k.byte_stats().stored_frames, 2);
    // The break: shrinking frees the pages, growing again gives zeros.
    let h = k.program_break();
    k.brk(h + 2 * P);
    k.write(h, &pattern(2 * P as usize, 5)).unwrap();
    k.brk(h);
    k.brk(h + 2 * P);
    assert_eq!(bytes(&mut k, h, 2 * P as usize), vec![0; 2 * P as usize]);
    consistent(&k);
}

#[test]
fn mremap_moves_the_bytes_with_the_frames() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    // Something right above it, so it cannot grow in place.
    k.mmap(a + 4 * P, P, Prot::RW, MapFlags::FIXED).unwrap();
    let data = pattern(4 * P as usize, 9);
    k.write(a, &data).unwrap();
    let b = k.mremap(a, 4 * P, 16 * P, MremapFlags::MAYMOVE).unwrap();
    assert_ne!(a, b, "moved");
    assert_eq!(bytes(&mut k, b, data.len()), data);
    assert_eq!(bytes(&mut k, b + 4 * P, 8), [0; 8], "the new part is fresh");
    assert!(k.read_u64(a).is_err(), "the old range is gone");
    consistent(&k);
}

#[test]
fn madvise_free_keeps_the_bytes_until_reclaim_takes_the_page() {
    // A machine of 64 frames: one process frees pages lazily, the next touch of new
    // memory needs their frames back.
    let mut k = Kernel::new(KernelConfig {
        store_bytes: true,
        phys_bytes: 64 * P,
        ..KernelConfig::default()
    });
    let a = k.mmap(0, 16 * P, Prot::RW, MapFlags::NONE).unwrap();
    k.write(a, &pattern(16 * P as usize, 2)).unwrap();
    k.madvise(a, 16 * P, Advice::Free).unwrap();
    // Writing again cancels the advice for that page: its bytes are the new ones.
    k.write(a, &[0xAB]).unwrap();
    assert_eq!(bytes(&mut k, a, 2), [0xAB, pattern(2, 2)[1]]);
    // Reading does not cancel it; the bytes are there while the page is.
    assert_eq!(
        bytes(&mut k, a + P, 4),
        pattern(P as usize + 4, 2)[P as usize..]
    );
    // Memory pressure: reclaim drops the lazily freed pages, and they read as zeros.
    let free = k.phys().free_frames;
    let b = k.mmap(0, 64 * P, Prot::RW, MapFlags::NORESERVE).unwrap();
    k.touch(b, (free + 8) * P, Access::Write).unwrap();
    assert!(matches!(k.page_state(a + 5 * P), PageState::Unpopulated));
    assert_eq!(bytes(&mut k, a + 5 * P, 8), [0; 8]);
    assert_eq!(
        bytes(&mut k, a, 1),
        [0xAB],
        "the page written again was kept"
    );
    consistent(&k);
}

#[test]
fn processes_have_their_own_bytes_and_exit_drops_them() {
    let mut k = kernel();
    let a = k.mmap(0, P, Prot::RW, MapFlags::NONE).unwrap();
    k.write_u64(a, 1).unwrap();
    let other = k.spawn();
    let me = k.current();
    k.switch_to(other).unwrap();
    let b = k.mmap(a, P, Prot::RW, MapFlags::FIXED).unwrap();
    assert_eq!(a, b, "the same virtual address");
    assert_eq!(k.read_u64(b).unwrap(), 0, "another process, another frame");
    k.write_u64(b, 2).unwrap();
    k.switch_to(me).unwrap();
    assert_eq!(k.read_u64(a).unwrap(), 1);
    assert_eq!(k.byte_stats().stored_frames, 2);
    k.exit(other).unwrap();
    assert_eq!(k.byte_stats().stored_frames, 1);
    consistent(&k);
}

#[test]
fn huge_pages_keep_bytes_per_4k_part_and_a_split_keeps_them() {
    let mut k = Kernel::new(KernelConfig {
        store_bytes: true,
        huge_pages: true,
        ..KernelConfig::default()
    });
    let h = HUGE_PAGE_SIZE;
    let a = k
        .mmap(0x4000_0000, 2 * h, Prot::RW, MapFlags::FIXED)
        .unwrap();
    k.write(a + 3 * P + 1, &pattern(100, 4)).unwrap();
    assert!(matches!(k.page_state(a), PageState::Huge { .. }));
    k.write(a + 300 * P, &pattern(100, 6)).unwrap();
    // Dropping part of the huge page splits it; the other parts keep their bytes.
    k.madvise(a + 200 * P, 200 * P, Advice::DontNeed).unwrap();
    assert_eq!(bytes(&mut k, a + 3 * P + 1, 100), pattern(100, 4));
    assert_eq!(bytes(&mut k, a + 300 * P, 100), vec![0; 100]);
    consistent(&k);
    k.munmap(a, 2 * h).unwrap();
    assert_eq!(k.byte_stats().stored_frames, 0);
    consistent(&k);
}

#[test]
fn copy_is_memmove_and_counts_a_read_and_a_write() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    let data = pattern(5000, 8);
    k.write(a, &data).unwrap();
    let before = k.byte_stats();
    k.copy(a + 1000, a, 5000).unwrap(); // overlapping, upwards
    let d = k.byte_stats().since(&before);
    assert_eq!(
        (d.reads, d.writes, d.bytes_read, d.bytes_written),
        (1, 1, 5000, 5000)
    );
    assert_eq!(d.lines_read, 79, "5000 bytes from a line boundary");
    assert_eq!(d.lines_written, 79, "from 1000 bytes in: lines 15 to 93");
    assert_eq!(bytes(&mut k, a + 1000, 5000), data);
    assert_eq!(bytes(&mut k, a, 1000), data[..1000]);
    k.copy(a, a + 1000, 5000).unwrap(); // back down
    assert_eq!(bytes(&mut k, a, 5000), data);
}

#[test]
fn peek_reads_without_a_fault_a_cost_or_a_count() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    k.write_u64(a + 8, 42).unwrap();
    let (counters, ledger, mem, stats) = (
        k.counters().clone(),
        k.ledger().clone(),
        k.mem(),
        k.byte_stats(),
    );
    assert_eq!(k.peek_u64(a + 8), Ok(42));
    assert_eq!(
        k.peek_u64(a + 2 * P),
        Ok(0),
        "untouched: zeros, and no fault"
    );
    assert_eq!(k.page_state(a + 2 * P), PageState::Unpopulated);
    assert_eq!(
        k.peek_u64(a + 4 * P),
        Err(Fault::Segv {
            addr: a + 4 * P,
            access: Access::Read,
            reason: SegvReason::Unmapped
        })
    );
    let mut buf = [7u8; 16];
    assert!(k.peek(a + 4 * P - 8, &mut buf).is_err());
    assert_eq!(buf[..8], [0; 8], "the bytes before the hole");
    assert_eq!(
        (k.counters(), k.ledger(), k.mem(), k.byte_stats()),
        (&counters, &ledger, mem, stats)
    );
}

#[test]
fn the_write_log_names_every_range_written() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    k.write_u64(a, 1).unwrap();
    assert!(k.take_logged_writes().is_empty(), "off until asked");
    k.log_writes(true);
    k.write_u64(a + 16, 1).unwrap();
    k.copy(a + 100, a, 50).unwrap();
    k.touch(a, 10, Access::Write).unwrap(); // a touch stores nothing: not logged
    assert_eq!(k.take_logged_writes(), [(a + 16, 8), (a + 100, 50)]);
    assert!(k.take_logged_writes().is_empty());
    k.log_writes(false);
    k.write_u64(a, 1).unwrap();
    assert!(k.take_logged_writes().is_empty());
}

#[test]
fn a_kernel_with_the_mode_off_turns_it_on_at_its_first_write() {
    let mut k = Kernel::new(KernelConfig::default());
    let a = k.mmap(0, P, Prot::RW, MapFlags::NONE).unwrap();
    k.touch(a, P, Access::Write).unwrap();
    assert_eq!(k.read_u64(a), Ok(0), "touches keep no bytes");
    assert!(!k.stores_bytes());
    k.write_u64(a, 5).unwrap();
    assert!(k.stores_bytes());
    assert_eq!(k.read_u64(a), Ok(5));
    assert_eq!(
        k.byte_stats(),
        ByteStats {
            reads: 2,
            writes: 1,
            bytes_read: 16,
            bytes_written: 8,
            lines_read: 2,
            lines_written: 1,
            stored_frames: 1,
        }
    );
}

/// One step of a random program against a byte-exact shadow of the memory.
#[derive(Clone, Debug)]
enum Step {
    Write {
        page: u64,
        off: u64,
        len: u64,
        seed: u8,
    },
    Read {
        page: u64,
        off: u64,
        len: u64,
    },
    DontNeed {
        page: u64,
        pages: u64,
    },
    Remap {
        page: u64,
        pages: u64,
    },
    Touch {
        page: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..16u64, 0..P, 1..3 * P, any::<u8>())
            .prop_map(|(page, off, len, seed)| Step::Write { page, off, len, seed }),
        3 => (0..16u64, 0..P, 1..3 * P).prop_map(|(page, off, len)| Step::Read { page, off, len }),
        1 => (0..16u64, 1..4u64).prop_map(|(page, pages)| Step::DontNeed { page, pages }),
        1 => (0..16u64, 1..4u64).prop_map(|(page, pages)| Step::Remap { page, pages }),
        1 => (0..16u64).prop_map(|page| Step::Touch { page }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random writes, reads, `MADV_DONTNEED`s, re-mappings and touches over 16 pages
    /// read back exactly what a byte-exact shadow says, and the kernel stays
    /// consistent.
    #[test]
    fn reads_see_exactly_what_was_written(steps in prop::collection::vec(step(), 1..60)) {
        let mut k = kernel();
        let base = k.mmap(0x7000_0000, 20 * P, Prot::RW, MapFlags::FIXED).unwrap();
        let mut shadow = vec![0u8; 20 * P as usize];
        for s in steps {
            match s {
                Step::Write { page, off, len, seed } => {
                    let at = page * P + off;
                    let data = pattern(len as usize, seed);
                    k.write(base + at, &data).unwrap();
                    shadow[at as usize..(at + len) as usize].copy_from_slice(&data);
                }
                Step::Read { page, off, len } => {
                    let at = (page * P + off) as usize;
                    let got = bytes(&mut k, base + at as u64, len as usize);
                    prop_assert_eq!(&got[..], &shadow[at..at + len as usize]);
                    let mut peeked = vec![0; len as usize];
                    k.peek(base + at as u64, &mut peeked).unwrap();
                    prop_assert_eq!(peeked, got);
                }
                Step::DontNeed { page, pages } => {
                    k.madvise(base + page * P, pages * P, Advice::DontNeed).unwrap();
                    shadow[(page * P) as usize..((page + pages) * P) as usize].fill(0);
                }
                Step::Remap { page, pages } => {
                    let at = base + page * P;
                    k.munmap(at, pages * P).unwrap();
                    k.mmap(at, pages * P, Prot::RW, MapFlags::FIXED).unwrap();
                    shadow[(page * P) as usize..((page + pages) * P) as usize].fill(0);
                }
                Step::Touch { page } => {
                    k.touch(base + page * P, P, Access::Write).unwrap();
                }
            }
        }
        prop_assert!(k.check_consistency().is_ok(), "{:?}", k.check_consistency());
    }
}
