//! The `paging` quiz: translate virtual addresses with a 4-level x86-64 page table.
//!
//! An x86-64 virtual address (48 bits used) is cut into four 9-bit indices and a
//! 12-bit offset: bits 47-39 index the PML4, 38-30 the PDPT, 29-21 the PD, 20-12 the
//! PT, and the PT entry gives the physical frame, to which the offset is appended. A
//! table exists only where something below it is mapped, so a walk can stop at any
//! level on an entry that is not present. The CPU then traps (a page fault), and only
//! now does the kernel look at the process's VMAs: an address inside one is filled in
//! (a minor fault), one outside every VMA, or an access the VMA forbids, is a SIGSEGV.
//!
//! The quiz builds a small address space on the simulated kernel (three mappings at
//! fixed addresses, some pages written, some only read, some untouched), prints its
//! page table and its VMAs, and asks what happens to a few accesses. Everything comes
//! from the kernel:
//! - the printed table is read with [`Kernel::page_state`] for every page of every
//!   VMA (the model frees a table as soon as its last entry goes, so a table exists
//!   exactly when some page under it is mapped); the count of table pages it implies
//!   is checked against the kernel's own `pt_bytes`;
//! - the outcome of each access is found by performing it on a copy of the kernel
//!   ([`Kernel::touch`]): no fault, a minor fault (and which frame or the zero page it
//!   mapped), or the SIGSEGV and its reason;
//! - and the quiz checks that the walk it prints agrees with that outcome.
//!
//! The kernel's public API answers "what backs this page" but not "which table entry
//! is missing"; a `Kernel::translate(addr)` returning the walk level by level would
//! let the quiz print the kernel's own walk (and the tables' frame numbers) instead of
//! reconstructing it.

use super::mt::Mt19937;
use super::{Question, Quiz, QuizError, b, t};
use kernel::{
    Access, Counters, Fault, Kernel, KernelConfig, MapFlags, PAGE_SHIFT, PAGE_SIZE, PageState,
    Prot, SegvReason,
};
use std::collections::BTreeMap;

/// The four indices and the offset of a virtual address.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Bits 47-39.
    pub pml4: u64,
    /// Bits 38-30.
    pub pdpt: u64,
    /// Bits 29-21.
    pub pd: u64,
    /// Bits 20-12.
    pub pt: u64,
    /// Bits 11-0.
    pub offset: u64,
}

impl Split {
    /// Cuts `va` into its indices.
    pub fn of(va: u64) -> Split {
        Split {
            pml4: (va >> 39) & 511,
            pdpt: (va >> 30) & 511,
            pd: (va >> 21) & 511,
            pt: (va >> 12) & 511,
            offset: va & 0xfff,
        }
    }

    /// The address these indices make.
    pub fn join(self) -> u64 {
        (self.pml4 << 39) | (self.pdpt << 30) | (self.pd << 21) | (self.pt << 12) | self.offset
    }
}

/// A leaf of the printed table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Leaf {
    /// A private frame.
    Frame { frame: u64, writable: bool },
    /// The shared zero page, read-only.
    Zero,
}

/// The page table as nested maps: PML4 index -> PDPT index -> PD index -> PT index.
type Tree = BTreeMap<u64, BTreeMap<u64, BTreeMap<u64, BTreeMap<u64, Leaf>>>>;

/// Reads the tree from the kernel: every page of every VMA that is mapped.
fn read_tree(k: &Kernel) -> Tree {
    let mut tree = Tree::new();
    for v in k.vmas() {
        let mut va = v.start;
        while va < v.end {
            let leaf = match k.page_state(va) {
                PageState::Resident {
                    frame, writable, ..
                }
                | PageState::Huge { frame, writable } => Some(Leaf::Frame { frame, writable }),
                PageState::ZeroPage => Some(Leaf::Zero),
                PageState::NotMapped | PageState::Unpopulated => None,
            };
            if let Some(leaf) = leaf {
                let s = Split::of(va);
                tree.entry(s.pml4)
                    .or_default()
                    .entry(s.pdpt)
                    .or_default()
                    .entry(s.pd)
                    .or_default()
                    .insert(s.pt, leaf);
            }
            va += PAGE_SIZE;
        }
    }
    tree
}

/// The names of the tables of a tree: PDPT 1, PD 1, PT 1, ... in address order.
#[derive(Default)]
struct Names {
    pdpt: BTreeMap<u64, usize>,
    pd: BTreeMap<(u64, u64), usize>,
    pt: BTreeMap<(u64, u64, u64), usize>,
}

impl Names {
    fn of(tree: &Tree) -> Names {
        let mut n = Names::default();
        for (&a, l3) in tree {
            let len = n.pdpt.len();
            n.pdpt.insert(a, len + 1);
            for (&b, l2) in l3 {
                let len = n.pd.len();
                n.pd.insert((a, b), len + 1);
                for &c in l2.keys() {
                    let len = n.pt.len();
                    n.pt.insert((a, b, c), len + 1);
                }
            }
        }
        n
    }

    fn pages(&self) -> usize {
        1 + self.pdpt.len() + self.pd.len() + self.pt.len()
    }
}

/// Where a walk ends.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Walk {
    /// An entry that is not present: the level (4 = PML4 .. 1 = PT) and the name of
    /// the table it is in.
    Missing {
        level: u32,
        table: String,
        index: u64,
    },
    /// A leaf in PT `table`.
    Found {
        table: usize,
        index: u64,
        leaf: Leaf,
    },
}

fn walk(tree: &Tree, names: &Names, s: Split) -> Walk {
    let Some(l3) = tree.get(&s.pml4) else {
        return Walk::Missing {
            level: 4,
            table: "PML4".into(),
            index: s.pml4,
        };
    };
    let pdpt = names.pdpt[&s.pml4];
    let Some(l2) = l3.get(&s.pdpt) else {
        return Walk::Missing {
            level: 3,
            table: format!("PDPT {pdpt}"),
            index: s.pdpt,
        };
    };
    let pd = names.pd[&(s.pml4, s.pdpt)];
    let Some(l1) = l2.get(&s.pd) else {
        return Walk::Missing {
            level: 2,
            table: format!("PD {pd}"),
            index: s.pd,
        };
    };
    let pt = names.pt[&(s.pml4, s.pdpt, s.pd)];
    match l1.get(&s.pt) {
        None => Walk::Missing {
            level: 1,
            table: format!("PT {pt}"),
            index: s.pt,
        },
        Some(&leaf) => Walk::Found {
            table: pt,
            index: s.pt,
            leaf,
        },
    }
}

/// The printed page table, one present entry a line, indented by level.
fn print_tree(tree: &Tree, names: &Names) -> Vec<String> {
    let mut out = vec!["CR3 -> PML4".to_string()];
    for (&a, l3) in tree {
        let pdpt = names.pdpt[&a];
        out.push(format!("  PML4[{a:3}] -> PDPT {pdpt}"));
        for (&b, l2) in l3 {
            let pd = names.pd[&(a, b)];
            out.push(format!("    PDPT {pdpt}[{b:3}] -> PD {pd}"));
            for (&c, l1) in l2 {
                let pt = names.pt[&(a, b, c)];
                out.push(format!("      PD {pd}[{c:3}] -> PT {pt}"));
                for (&d, leaf) in l1 {
                    out.push(format!("        PT {pt}[{d:3}] -> {}", leaf_text(*leaf)));
                }
            }
        }
    }
    out
}

fn leaf_text(leaf: Leaf) -> String {
    match leaf {
        Leaf::Frame { frame, writable } => format!(
            "frame {frame:#x}, {}",
            if writable { "read-write" } else { "read-only" }
        ),
        Leaf::Zero => "the zero page, read-only".to_string(),
    }
}

/// A 48-bit address as the quiz prints it: `0x` and 12 hex digits.
fn va_text(va: u64) -> String {
    format!("{va:#014x}")
}

fn prot_text(p: Prot) -> &'static str {
    match (p.allows_read(), p.allows_write()) {
        (true, true) => "read-write",
        (true, false) => "read-only",
        _ => "no access",
    }
}

/// What an access did on a copy of the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// No trap: the walk found a present entry that allows the access.
    Translated,
    /// A trap the kernel resolved by mapping something (a minor fault).
    MinorFault(PageState),
    /// A trap that ends in SIGSEGV.
    Segv(SegvReason),
}

fn perform(k: &Kernel, va: u64, access: Access) -> Result<Outcome, QuizError> {
    let mut c = k.clone();
    let before: Counters = c.counters().clone();
    match c.touch(va, 1, access) {
        Ok(()) if c.counters().minor_faults == before.minor_faults => Ok(Outcome::Translated),
        Ok(()) => Ok(Outcome::MinorFault(c.page_state(va))),
        Err(Fault::Segv { reason, .. }) => Ok(Outcome::Segv(reason)),
        Err(Fault::OutOfMemory { .. }) => Err(QuizError::Internal(format!(
            "out of memory touching {va:#x}"
        ))),
    }
}

/// What a quiz runs: the mappings, what the program did with them, and the accesses
/// asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// `mmap(addr, len, prot, MAP_FIXED)` calls: (address, bytes, protection).
    pub maps: Vec<(u64, u64, Prot)>,
    /// 8-byte accesses the program made before the questions, in order.
    pub touches: Vec<(u64, Access)>,
    /// The accesses asked about (each on the address space as the touches left it).
    pub asks: Vec<(u64, Access)>,
}

/// Builds the address space of a scenario on a fresh kernel.
pub fn build(sc: &Scenario) -> Result<Kernel, QuizError> {
    let fail = |what: String| QuizError::Internal(what);
    let mut k = Kernel::new(KernelConfig::default());
    for &(addr, len, prot) in &sc.maps {
        k.mmap(addr, len, prot, MapFlags::FIXED)
            .map_err(|e| fail(format!("mmap at {addr:#x}: {e}")))?;
    }
    for &(addr, access) in &sc.touches {
        k.touch(addr, 8, access)
            .map_err(|e| fail(format!("access at {addr:#x}: {e}")))?;
    }
    Ok(k)
}

/// The scenario of `seed`: three mappings, two in the same 1 GiB (the second in the
/// same or a nearby 2 MiB) and one under another PML4 entry; writes to some pages,
/// reads of others; six accesses of different kinds to ask about.
pub fn scenario(seed: u64) -> Scenario {
    let mut rng = Mt19937::from_seed(i128::from(seed));
    let p4 = 1 + rng.below(254);
    let p3 = rng.below(512);
    let p2 = rng.below(510);
    let len1 = 3 + rng.below(3);
    let p1 = rng.below(512 - len1 - 8);
    let a1 = Split {
        pml4: p4,
        pdpt: p3,
        pd: p2,
        pt: p1,
        offset: 0,
    }
    .join();
    let same_pt = rng.random() < 0.5;
    let len2 = 2 + rng.below(2);
    let a2 = if same_pt {
        a1 + (len1 + 2 + rng.below(3)) * PAGE_SIZE
    } else {
        Split {
            pml4: p4,
            pdpt: p3,
            pd: p2 + 1 + rng.below(2),
            pt: rng.below(500),
            offset: 0,
        }
        .join()
    };
    let other4 = loop {
        let x = 1 + rng.below(254);
        if x != p4 {
            break x;
        }
    };
    let len3 = 1 + rng.below(2);
    let a3 = Split {
        pml4: other4,
        pdpt: rng.below(512),
        pd: rng.below(512),
        pt: rng.below(500),
        offset: 0,
    }
    .join();
    let maps = vec![
        (a1, len1 * PAGE_SIZE, Prot::RW),
        (a2, len2 * PAGE_SIZE, Prot::READ),
        (a3, len3 * PAGE_SIZE, Prot::RW),
    ];
    // What the program did: writes to some pages of the first and third mappings, a
    // read of one page of the first (the zero page) and of the read-only one.
    let written1: Vec<u64> = (0..len1).filter(|_| rng.random() < 0.6).collect();
    let written1 = if written1.is_empty() {
        vec![0]
    } else {
        written1
    };
    let untouched1: Vec<u64> = (0..len1).filter(|i| !written1.contains(i)).collect();
    let read1 = (untouched1.len() >= 2).then(|| *rng.pick(&untouched1));
    let mut touches: Vec<(u64, Access)> = written1
        .iter()
        .map(|&i| (a1 + i * PAGE_SIZE, Access::Write))
        .collect();
    touches.extend(read1.map(|i| (a1 + i * PAGE_SIZE, Access::Read)));
    touches.push((a2, Access::Read));
    touches.push((a3, Access::Write));

    // The accesses: one of every kind the address space offers, in random order.
    let off = |r: &mut Mt19937| r.below(PAGE_SIZE / 8) * 8;
    let either = [Access::Read, Access::Write];
    let mut asks: Vec<(u64, Access)> = Vec::new();
    let w = *rng.pick(&written1);
    asks.push((a1 + w * PAGE_SIZE + off(&mut rng), *rng.pick(&either)));
    if let Some(i) = untouched1.iter().find(|&&i| Some(i) != read1) {
        asks.push((a1 + i * PAGE_SIZE + off(&mut rng), *rng.pick(&either)));
    }
    if let Some(i) = read1 {
        asks.push((a1 + i * PAGE_SIZE + off(&mut rng), Access::Write));
    }
    asks.push((a2 + off(&mut rng), *rng.pick(&either)));
    // Beyond the read-only mapping: in its PT (or the next one) but in no VMA.
    asks.push((
        a2 + (len2 + rng.below(3)) * PAGE_SIZE + off(&mut rng),
        Access::Read,
    ));
    // A 2 MiB region with no PT, and a PML4 entry that is empty.
    let hole2 = Split {
        pd: (p2 + 3 + rng.below(100)) % 512,
        ..Split::of(a1)
    };
    asks.push((hole2.join() + off(&mut rng), Access::Read));
    let empty4 = loop {
        let x = rng.below(256);
        if x != p4 && x != other4 {
            break x;
        }
    };
    asks.push((
        Split {
            pml4: empty4,
            pdpt: rng.below(512),
            pd: rng.below(512),
            pt: rng.below(512),
            offset: off(&mut rng),
        }
        .join(),
        Access::Write,
    ));
    asks.push((a3 + off(&mut rng), Access::Read));
    // Shuffle (Fisher-Yates) and keep six.
    for i in (1..asks.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        asks.swap(i, j);
    }
    asks.truncate(6);
    Scenario {
        maps,
        touches,
        asks,
    }
}

/// Generates the quiz for `seed`.
pub fn generate(seed: u64) -> Result<Quiz, QuizError> {
    let sc = scenario(seed);
    let k = build(&sc)?;
    let tree = read_tree(&k);
    let names = Names::of(&tree);
    let kernel_pages = k.mem().pt_bytes / PAGE_SIZE;
    if names.pages() as u64 != kernel_pages {
        return Err(QuizError::Internal(format!(
            "the table read from page states has {} pages, the kernel {kernel_pages}",
            names.pages()
        )));
    }

    let mut setup = vec![
        "A process's address space on the simulated x86-64 kernel (4 KiB pages, \
         4-level tables of 512 entries: PML4, PDPT, PD, PT). Its VMAs:"
            .to_string(),
    ];
    for v in k.vmas() {
        setup.push(format!(
            "  [{}, {})  {}  {}",
            va_text(v.start),
            va_text(v.end),
            match (v.end - v.start) / PAGE_SIZE {
                1 => "1 page ".to_string(),
                n => format!("{n} pages"),
            },
            prot_text(v.prot)
        ));
    }
    setup.push("Its page table (present entries only; every other entry is empty):".into());
    setup.extend(print_tree(&tree, &names));
    setup.push(
        "For each access: the four indices and the offset, where the walk ends, and what \
         happens (no fault, a minor fault, or SIGSEGV)."
            .into(),
    );
    let asks = sc.asks;

    let mut questions = Vec::new();
    for &(va, access) in &asks {
        questions.push(question(&k, &tree, &names, va, access)?);
    }
    let mut q = Question::new();
    q.line(vec![
        t("How many page-table pages does the process have, PML4 included? "),
        b("page-table pages", kernel_pages),
    ]);
    q.worked(format!(
        "1 PML4 + {} PDPT + {} PD + {} PT = {} pages ({} KiB): the kernel's pt_bytes.",
        names.pdpt.len(),
        names.pd.len(),
        names.pt.len(),
        kernel_pages,
        kernel_pages * 4
    ));
    q.worked("Tables exist only where something is mapped: that is why a 256 TiB".to_string());
    q.worked("address space costs a handful of pages here.".to_string());
    questions.push(q);

    Ok(Quiz {
        kind: super::Kind::Paging,
        seed,
        title: "Four-level address translation on x86-64, with the kernel's page tables.".into(),
        setup,
        questions,
    })
}

/// One access: the indices, the walk, the outcome.
fn question(
    k: &Kernel,
    tree: &Tree,
    names: &Names,
    va: u64,
    access: Access,
) -> Result<Question, QuizError> {
    let s = Split::of(va);
    let wk = walk(tree, names, s);
    let outcome = perform(k, va, access)?;
    let write = access == Access::Write;
    // The hardware's verdict from the printed table, which must agree with the kernel.
    let no_trap = match wk {
        Walk::Found {
            leaf: Leaf::Frame { writable, .. },
            ..
        } => !write || writable,
        Walk::Found {
            leaf: Leaf::Zero, ..
        } => !write,
        Walk::Missing { .. } => false,
    };
    if no_trap != (outcome == Outcome::Translated) {
        return Err(QuizError::Internal(format!(
            "the walk of {va:#x} ({wk:?}) disagrees with the kernel ({outcome:?})"
        )));
    }
    let walk_text = match &wk {
        Walk::Missing { table, index, .. } => format!("{table}[{index}] is not present"),
        Walk::Found { table, index, leaf } => {
            format!("PT {table}[{index}] -> {}", leaf_text(*leaf))
        }
    };
    let vma = k.vma_at(va);
    let result = match &outcome {
        Outcome::Translated => match wk {
            Walk::Found {
                leaf: Leaf::Frame { frame, .. },
                ..
            } => format!(
                "no fault: physical address {:#x}",
                (frame << PAGE_SHIFT) | s.offset
            ),
            _ => "no fault: it reads the zero page (all zeros)".to_string(),
        },
        Outcome::MinorFault(after) => match after {
            PageState::Resident { frame, .. } | PageState::Huge { frame, .. } => {
                format!("minor fault: the kernel maps a zeroed frame ({frame:#x})")
            }
            PageState::ZeroPage => "minor fault: the kernel maps the zero page".to_string(),
            other => {
                return Err(QuizError::Internal(format!(
                    "a fault at {va:#x} left {other:?}"
                )));
            }
        },
        Outcome::Segv(SegvReason::Unmapped) => "SIGSEGV (SEGV_MAPERR): no VMA there".to_string(),
        Outcome::Segv(SegvReason::Protection) => {
            "SIGSEGV (SEGV_ACCERR): the VMA forbids it".to_string()
        }
    };
    let mut q = Question::new();
    q.line(vec![t(format!(
        "{} at {}",
        if write { "write" } else { "read" },
        va_text(va)
    ))]);
    q.line(vec![
        t("PML4 "),
        b("PML4 index", s.pml4),
        t("  PDPT "),
        b("PDPT index", s.pdpt),
        t("  PD "),
        b("PD index", s.pd),
        t("  PT "),
        b("PT index", s.pt),
        t("  offset "),
        b("offset", format!("{:#x}", s.offset)),
    ]);
    q.line(vec![t("walk: "), b("walk", walk_text)]);
    q.line(vec![t("result: "), b("result", result)]);
    q.worked(format!(
        "{} = {:09b} {:09b} {:09b} {:09b} {:012b}",
        va_text(va),
        s.pml4,
        s.pdpt,
        s.pd,
        s.pt,
        s.offset
    ));
    q.worked("(bits 47-39, 38-30, 29-21 and 20-12 index the tables; 11-0 the page)".to_string());
    match (&wk, &outcome) {
        (Walk::Missing { level: 1, .. }, _) => {
            q.worked("The page itself is not mapped (never touched): the CPU traps.")
        }
        (Walk::Missing { level, .. }, _) => q.worked(format!(
            "Nothing is mapped in the {} this entry covers, so there is no table below \
             it: the CPU traps.",
            match level {
                4 => "512 GiB",
                3 => "1 GiB",
                _ => "2 MiB",
            }
        )),
        (Walk::Found { .. }, Outcome::Translated) => {
            q.worked("The entry is present and allows the access: the MMU is done.")
        }
        (Walk::Found { .. }, _) => q.worked(
            "The entry is present but read-only: a write traps into the kernel.".to_string(),
        ),
    };
    match (&outcome, vma) {
        (Outcome::Translated, _) => {}
        (_, Some(v)) => {
            q.worked(format!(
                "The kernel finds the VMA [{}, {}), {}: {}.",
                va_text(v.start),
                va_text(v.end),
                prot_text(v.prot),
                match outcome {
                    Outcome::Segv(_) => "it does not allow this access",
                    Outcome::MinorFault(PageState::ZeroPage) => {
                        "a first read maps the shared zero page (no memory used)"
                    }
                    _ => "demand paging gives the page a zeroed frame",
                }
            ));
        }
        (_, None) => {
            q.worked("The kernel finds no VMA containing the address.".to_string());
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join_are_inverse() {
        let va = 0x7f12_3456_7abc;
        let s = Split::of(va);
        assert_eq!(s.offset, 0xabc);
        assert_eq!(s.join(), va);
        assert_eq!(Split::of(0x5555_5555_9000).pml4, 170);
    }
}
