//! `lifetimes`: objects whose lifetimes the program knows.

use super::{Builder, GenError, Pool, SizeDist, check_ops, require};
use crate::op::{BlockId, Workload};
use crate::rng;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Lifetime class of temporaries (freed within a few allocations).
pub const SHORT: u8 = 0;
/// Lifetime class of per-request objects (freed when the request ends).
pub const REQUEST: u8 = 1;
/// Lifetime class of program-lifetime objects (freed at shutdown).
pub const LONG: u8 = 2;

/// Parameters of `lifetimes`: request handling with three kinds of object lifetime.
///
/// **What it imitates.** A server, a compiler or a game loop, organised around units of
/// work (requests, functions, frames). It allocates three kinds of objects, interleaved:
/// temporaries that die within a few allocations (class 0, *short*); objects that live
/// until the end of the current request (class 1, *request*); and objects that live
/// for the rest of the program (class 2, *long*: caches, symbol tables, sessions).
/// The workload records each block's class in [`Workload::lifetimes`], as a program
/// using arenas or regions would know it.
///
/// **What it shows.** Claim 11, "knowing object lifetimes lets an allocator do better".
/// In one heap the long-lived objects end up scattered among the request's objects, so
/// when a request ends its memory is free but pinned, and the heap fragments and stays
/// large. An allocator that puts each class in its own arena (`lifetime-arenas`) can
/// drop a request's whole arena at once and keep long-lived objects packed together.
///
/// **Shape.** For each request `k` (from 1): phase `request-k` allocates the request's
/// share of blocks, each short with probability `short_permille`/1000, request-lived
/// with probability `request_permille`/1000, long otherwise; a short block is freed
/// after 1 to `short_span` further allocations; at the request's end its short and
/// request blocks are freed. Phase `shutdown` frees the long-lived blocks. With fewer
/// than 2 calls per request there are fewer requests.
///
/// **Defaults.** 30 000 calls over 20 requests (750 blocks each), 70 % short, 25 %
/// request-lived, 5 % long, short spans up to 16 allocations, sizes
/// [`SizeDist::small_objects`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifetimesParams {
    /// Allocator calls. Default 30 000.
    pub ops: u64,
    /// Units of work. Default 20.
    pub requests: u64,
    /// Per mille of blocks that are temporaries (class 0). Default 700.
    pub short_permille: u32,
    /// Per mille of blocks that live until the request ends (class 1). Default 250.
    /// The rest live until shutdown (class 2).
    pub request_permille: u32,
    /// A temporary is freed after 1 to `short_span` further allocations. Default 16.
    pub short_span: u64,
    /// Request sizes. Default [`SizeDist::small_objects`].
    pub sizes: SizeDist,
}

impl LifetimesParams {
    /// `ops` when not given.
    pub const DEFAULT_OPS: u64 = 30_000;
    const NAME: &'static str = "lifetimes";

    /// Generates the workload for `seed`.
    pub fn generate(&self, seed: u64) -> Result<Workload, GenError> {
        require(
            (1..=10_000).contains(&self.requests),
            Self::NAME,
            "requests",
            || format!("{} is not in 1..=10000", self.requests),
        )?;
        check_ops(Self::NAME, self.ops, 2)?;
        require(
            self.short_permille + self.request_permille <= 1000,
            Self::NAME,
            "request_permille",
            || {
                format!(
                    "short_permille {} + request_permille {} is above 1000",
                    self.short_permille, self.request_permille
                )
            },
        )?;
        require(
            (1..=1_000_000).contains(&self.short_span),
            Self::NAME,
            "short_span",
            || format!("{} is not in 1..=1000000", self.short_span),
        )?;
        self.sizes.check(Self::NAME, "sizes")?;

        let mut b = Builder::new(Self::NAME, seed, self.ops);
        // A block that must stay live to the end (tiny `ops`) is long-lived.
        b.leftover_lifetime = Some(LONG);
        let mut long = Pool::default();
        // Every request needs at least one block (a malloc and a free).
        let requests = self.requests.min(self.ops / 2);
        let per_request = self.ops / 2 / requests;
        // Allocations made so far: the clock that short lifetimes are measured in.
        let mut clock: u64 = 0;

        for request in 1..=requests {
            b.phase(&format!("request-{request}"));
            // Temporaries by time of death (ties broken by id, so the order is fixed).
            let mut short: BinaryHeap<Reverse<(u64, BlockId)>> = BinaryHeap::new();
            let mut scoped = Pool::default();
            let last = request == requests;
            let mut made = 0;
            while b.slack() >= 2 && (last || made < per_request) {
                let size = self.sizes.sample(&mut b.rng);
                let roll = rng::below(&mut b.rng, 1000) as u32;
                clock += 1;
                made += 1;
                if roll < self.short_permille {
                    let id = b.malloc_with_lifetime(size, SHORT);
                    let death = clock + rng::between(&mut b.rng, 1, self.short_span);
                    short.push(Reverse((death, id)));
                } else if roll < self.short_permille + self.request_permille {
                    let id = b.malloc_with_lifetime(size, REQUEST);
                    scoped.push(id, size);
                } else {
                    let id = b.malloc_with_lifetime(size, LONG);
                    long.push(id, size);
                }
                while let Some(&Reverse((death, id))) = short.peek() {
                    if death > clock {
                        break;
                    }
                    short.pop();
                    b.free(id);
                }
            }
            if last && b.slack() == 1 {
                // An odd call count: a long-lived table grows once.
                if long.is_empty() {
                    b.settle(&mut scoped, &self.sizes);
                } else {
                    b.settle(&mut long, &self.sizes);
                }
            }
            // End of the request: its temporaries and request-scoped objects go.
            while let Some(Reverse((_, id))) = short.pop() {
                b.free(id);
            }
            b.drain_random(&mut scoped);
        }

        b.phase("shutdown");
        b.drain_random(&mut long);
        Ok(b.finish())
    }
}

impl Default for LifetimesParams {
    fn default() -> Self {
        LifetimesParams {
            ops: Self::DEFAULT_OPS,
            requests: 20,
            short_permille: 700,
            request_permille: 250,
            short_span: 16,
            sizes: SizeDist::small_objects(),
        }
    }
}
