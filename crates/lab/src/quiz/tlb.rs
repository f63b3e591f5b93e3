//! The `tlb` quiz: hits and misses of a set-associative TLB with LRU replacement.
//!
//! A TLB of `E` entries in sets of `W` ways has `E / W` sets; a virtual page number
//! (VPN) can only be cached in set `VPN mod (E / W)`, in any of its `W` ways, and when
//! the set is full the least recently used way makes room. So a pattern can miss
//! although the TLB has free entries elsewhere (a *conflict* miss), which a fully
//! associative TLB of the same size (one set) would have hit.
//!
//! The quiz maps a region of pages on the simulated kernel with the TLB shape asked
//! for, fills every page in ahead of time (`MAP_POPULATE`, which does not touch the
//! TLB), and reads one byte of each page of the pattern, one access at a time: each
//! answer is the kernel's TLB hit or miss counter moving. The region starts on a 2 MiB
//! boundary, so its page `i` has a VPN that is `i` modulo any number of sets, and the
//! set of page `i` is `i mod sets`. The worked answer shows the set's content after
//! each access from a small LRU model here, and the quiz checks that the model and the
//! kernel agree on every access (the kernel's TLB is not public: its contents cannot
//! be printed directly).

use super::mt::Mt19937;
use super::{Question, Quiz, QuizError, b, t};
use kernel::{Access, Kernel, KernelConfig, MapFlags, PAGE_SIZE, Prot, TlbConfig};

/// A set-associative LRU TLB over page numbers: the worked answer's model.
#[derive(Clone, Debug)]
pub struct LruTlb {
    /// Each set's pages, least recently used first.
    sets: Vec<Vec<u64>>,
    ways: usize,
}

impl LruTlb {
    /// `entries` entries in sets of `ways` (`entries / ways` sets, at least one).
    pub fn new(entries: usize, ways: usize) -> LruTlb {
        let ways = ways.max(1);
        LruTlb {
            sets: vec![Vec::new(); (entries / ways).max(1)],
            ways,
        }
    }

    /// The set of `page`.
    pub fn set_of(&self, page: u64) -> usize {
        (page % self.sets.len() as u64) as usize
    }

    /// Looks `page` up: true for a hit. Either way the page becomes the most recently
    /// used of its set; a miss in a full set evicts the least recently used page, which
    /// is returned in the second place.
    pub fn access(&mut self, page: u64) -> (bool, Option<u64>) {
        let ways = self.ways;
        let set = self.set_of(page);
        let s = &mut self.sets[set];
        if let Some(i) = s.iter().position(|&p| p == page) {
            s.remove(i);
            s.push(page);
            return (true, None);
        }
        let evicted = if s.len() == ways {
            Some(s.remove(0))
        } else {
            None
        };
        s.push(page);
        (false, evicted)
    }

    /// The pages of set `set`, least recently used first.
    pub fn set(&self, set: usize) -> &[u64] {
        &self.sets[set]
    }
}

/// Runs `pattern` (page indices of a region) on the simulated kernel with a TLB of
/// `entries` entries and `ways` ways: true for each access that hit.
pub fn kernel_hits(entries: u32, ways: u32, pattern: &[u64]) -> Result<Vec<bool>, QuizError> {
    let fail = |what: String| QuizError::Internal(what);
    let cfg = KernelConfig {
        tlb: TlbConfig {
            entries,
            ways,
            pcid: false,
            // One level: the quiz is about one set-associative TLB.
            l2_entries: 0,
            ..TlbConfig::default()
        },
        ..KernelConfig::default()
    };
    let mut k = Kernel::try_new(cfg).map_err(|e| fail(e.to_string()))?;
    let pages = pattern.iter().max().map_or(1, |&m| m + 1);
    // A 2 MiB-aligned region in the middle of the address space.
    let base = 0x4000_0000_0000;
    k.mmap(
        base,
        pages * PAGE_SIZE,
        Prot::RW,
        MapFlags::FIXED.union(MapFlags::POPULATE),
    )
    .map_err(|e| fail(format!("mmap: {e}")))?;
    let mut out = Vec::with_capacity(pattern.len());
    for &p in pattern {
        let (hits, misses, faults) = {
            let c = k.counters();
            (c.tlb_hits, c.tlb_misses, c.minor_faults)
        };
        k.touch(base + p * PAGE_SIZE, 1, Access::Read)
            .map_err(|e| fail(format!("read of page {p}: {e}")))?;
        let c = k.counters();
        if c.minor_faults != faults || (c.tlb_hits - hits) + (c.tlb_misses - misses) != 1 {
            return Err(fail(format!(
                "a read of populated page {p} was not exactly one TLB lookup"
            )));
        }
        out.push(c.tlb_hits > hits);
    }
    Ok(out)
}

/// An access pattern of 16 to 20 page indices, from one of a few shapes programs have,
/// sized to the TLB so that reuse, capacity and conflicts all show up.
fn pattern(rng: &mut Mt19937, entries: u64, ways: u64) -> (String, Vec<u64>) {
    let sets = entries / ways;
    let n = 16 + rng.below(5);
    match rng.below(4) {
        0 => {
            // A loop over an array of about the TLB's size: LRU's worst case when the
            // array is one page too big.
            let k = entries / 2 + 1 + rng.below(entries / 2 + 1);
            (
                format!("a loop over {k} pages"),
                (0..n).map(|i| i % k).collect(),
            )
        }
        1 => {
            // A column walk: pages `stride` apart crowd one set.
            let stride = if sets > 1 { sets } else { 1 + rng.below(4) };
            let k = ways + 1 + rng.below(2);
            (
                format!("a column walk, {k} pages {stride} apart"),
                (0..n).map(|i| (i % k) * stride).collect(),
            )
        }
        2 => {
            // Two arrays read in turn, the second starting in the same set as the first.
            let far = sets * (1 + rng.below(3)) + entries;
            let (m1, m2) = (2 + rng.below(3), 2 + rng.below(3));
            (
                format!("two arrays in turn, at pages 0 and {far}"),
                (0..n)
                    .map(|i| {
                        if i % 2 == 0 {
                            i / 2 % m1
                        } else {
                            far + i / 2 % m2
                        }
                    })
                    .collect(),
            )
        }
        _ => {
            let span = entries + rng.below(entries / 2 + 1);
            (
                format!("random pages below {span}"),
                (0..n).map(|_| rng.below(span)).collect(),
            )
        }
    }
}

fn shape(entries: u64, ways: u64) -> String {
    let sets = entries / ways;
    if sets == 1 {
        format!("{entries} entries, fully associative (one set of {ways} ways)")
    } else if ways == 1 {
        format!("{entries} entries, direct-mapped ({sets} sets of 1 way)")
    } else {
        format!("{entries} entries, {ways}-way set associative ({sets} sets)")
    }
}

fn list(pages: &[u64]) -> String {
    let v: Vec<String> = pages.iter().map(u64::to_string).collect();
    format!("[{}]", v.join(" "))
}

/// What a quiz runs: the TLB's shape and the pages read, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Entries of the TLB.
    pub entries: u64,
    /// Ways per set.
    pub ways: u64,
    /// The pattern in words.
    pub what: String,
    /// Page indices of the region, in access order.
    pub pages: Vec<u64>,
}

/// The scenario of `seed`: a TLB of 4 or 8 entries and a pattern sized to it.
pub fn scenario(seed: u64) -> Scenario {
    let mut rng = Mt19937::from_seed(i128::from(seed));
    let entries = *rng.pick(&[4u64, 8]);
    let ways = (*rng.pick(&[1u64, 2, 2, 4, entries])).min(entries);
    let (what, pages) = pattern(&mut rng, entries, ways);
    Scenario {
        entries,
        ways,
        what,
        pages,
    }
}

/// Generates the quiz for `seed`.
pub fn generate(seed: u64) -> Result<Quiz, QuizError> {
    let Scenario {
        entries,
        ways,
        what,
        pages,
    } = scenario(seed);
    let sets = entries / ways;
    let hits = kernel_hits(entries as u32, ways as u32, &pages)?;
    let mut model = LruTlb::new(entries as usize, ways as usize);

    let mut setup = vec![
        format!(
            "A TLB of {} with LRU replacement, empty at the start.",
            shape(entries, ways)
        ),
        if sets == 1 {
            "Any page can be cached in any entry.".to_string()
        } else {
            format!("Page p can only be cached in set p mod {sets}.")
        },
        format!("The program reads one byte of each of these pages, in order ({what}):"),
    ];
    let seq: Vec<String> = pages.iter().map(u64::to_string).collect();
    setup.push(format!("  {}", seq.join(" ")));
    setup.push(
        "For each access: its set, hit or miss, and the set's pages after it (least \
         recently used first)."
            .into(),
    );

    let mut q = Question::new();
    q.line(vec![t("Access by access:")]);
    q.line(vec![t(" #  page  set  result   set after")]);
    let mut evictions = Vec::new();
    for (i, (&p, &hit)) in pages.iter().zip(&hits).enumerate() {
        let (model_hit, evicted) = model.access(p);
        if model_hit != hit {
            return Err(QuizError::Internal(format!(
                "access {} (page {p}): the kernel's TLB says {}, the LRU model {}",
                i + 1,
                if hit { "hit" } else { "miss" },
                if model_hit { "hit" } else { "miss" }
            )));
        }
        let set = model.set_of(p);
        q.line(vec![
            t(format!("{:2}  {p:4}  {set:3}  ", i + 1)),
            b(
                format!("access {} result", i + 1),
                if hit { "hit " } else { "miss" },
            ),
            t("     "),
            b(format!("access {} set after", i + 1), list(model.set(set))),
        ]);
        if let Some(e) = evicted {
            evictions.push(format!(
                "access {}: page {p} evicts page {e} from set {set}",
                i + 1
            ));
        }
    }
    let n_hits = hits.iter().filter(|&&h| h).count();
    const SHOWN: usize = 6;
    if evictions.is_empty() {
        q.worked("No set ever overflows: every miss is the first use of a page.");
    } else {
        for e in evictions.iter().take(SHOWN) {
            q.worked(e.clone());
        }
        if evictions.len() > SHOWN {
            q.worked(format!(
                "... {} evictions in all: each set keeps its {ways} most recent pages.",
                evictions.len()
            ));
        }
    }
    let mut questions = vec![q];

    let mut q = Question::new();
    q.line(vec![
        t("Hits: "),
        b("hits", n_hits),
        t(" of "),
        t(pages.len().to_string()),
        t("; misses: "),
        b("misses", pages.len() - n_hits),
        t("."),
    ]);
    let distinct = {
        let mut d = pages.clone();
        d.sort_unstable();
        d.dedup();
        d.len()
    };
    let other = pages.len() - n_hits - distinct;
    q.worked(if other == 0 {
        format!("{distinct} distinct pages: every miss is a first use (a compulsory miss).")
    } else {
        format!(
            "{distinct} distinct pages: {distinct} compulsory misses (first use); the \
             other {other} are capacity or conflict misses (the page was evicted)."
        )
    });
    questions.push(q);

    if sets > 1 {
        let full = kernel_hits(entries as u32, entries as u32, &pages)?;
        let full_hits = full.iter().filter(|&&h| h).count();
        let mut q = Question::new();
        q.line(vec![
            t(format!(
                "A fully associative LRU TLB of {entries} entries would hit "
            )),
            b("fully associative hits", full_hits),
            t(" times."),
        ]);
        q.worked(format!(
            "One set of {entries} ways: a page is only evicted after {entries} other \
             distinct pages were used since its last use."
        ));
        q.worked(if full_hits >= n_hits {
            format!(
                "So {} of the {ways}-way TLB's misses are conflict misses: pages \
                 crowding one set while others had room.",
                full_hits - n_hits
            )
        } else {
            format!(
                "Here the sets do better by {}: LRU over the whole TLB evicts pages \
                 that one set would have kept.",
                n_hits - full_hits
            )
        });
        questions.push(q);
    }

    Ok(Quiz {
        kind: super::Kind::Tlb,
        seed,
        title: "TLB hits and misses: sets, ways and LRU replacement.".into(),
        setup,
        questions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_model_evicts_the_least_recent_way() {
        let mut m = LruTlb::new(4, 2); // 2 sets
        assert_eq!(m.access(0), (false, None));
        assert_eq!(m.access(2), (false, None));
        assert_eq!(m.access(0), (true, None));
        assert_eq!(m.access(4), (false, Some(2)));
        assert_eq!(m.set(0), &[0, 4]);
        assert_eq!(m.access(1), (false, None));
        assert_eq!(m.set(1), &[1]);
    }
}
