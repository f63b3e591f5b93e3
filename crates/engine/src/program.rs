//! A simulated program that runs its op stream one op at a time, for drivers that need
//! more control than [`crate::run`] gives: several programs on one kernel taking turns
//! (claim 10), or an experiment that reads the allocator's own state between ops.
//!
//! It does what the engine's run loop does for each op (call the allocator, then write
//! the bytes the touch policy asks for) but leaves the kernel and the allocator to the
//! caller, who may switch processes between two steps.

use super::ExperimentError;
use kernel::{Access, Addr, Errno, Fault, Kernel};
use malloc::{AllocError, Allocator};
use std::collections::BTreeMap;
use workload::{BlockId, Op, TouchPolicy, Workload};

/// What one step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stepped {
    /// The op ran; `ptr` is what a malloc or realloc returned.
    Ran {
        /// Index of the op in the stream.
        index: usize,
        /// The pointer a malloc or realloc returned.
        ptr: Option<Addr>,
    },
    /// Every op has run.
    Finished,
    /// The op could not get memory (malloc returned NULL, or a page fault found no free
    /// frame): the program would die here. The op is not retried.
    OutOfMemory {
        /// Index of the op.
        index: usize,
        /// What failed.
        detail: String,
    },
    /// `free` could not give the block back: the kernel refused the `munmap` (at
    /// `vm.max_map_count`, unmapping from the middle of a VMA would need one VMA more).
    /// C's `free` returns nothing, so the program goes on, and the block stays mapped:
    /// it leaks.
    FreeRefused {
        /// Index of the op.
        index: usize,
        /// What the kernel said.
        detail: String,
    },
    /// An access faulted: a simulated SIGSEGV.
    Segv {
        /// Index of the op.
        index: usize,
        /// The fault.
        detail: String,
    },
}

/// A workload being executed.
#[derive(Clone, Debug)]
pub struct Program {
    workload: Workload,
    next: usize,
    blocks: BTreeMap<BlockId, (Addr, u64)>,
    live: u64,
}

impl Program {
    /// A program at the start of `workload`.
    pub fn new(workload: Workload) -> Program {
        Program {
            workload,
            next: 0,
            blocks: BTreeMap::new(),
            live: 0,
        }
    }

    /// The workload.
    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// Index of the next op to run.
    pub fn position(&self) -> usize {
        self.next
    }

    /// True when every op has run.
    pub fn finished(&self) -> bool {
        self.next >= self.workload.ops.len()
    }

    /// Requested bytes of the live blocks.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// The live blocks: id to (pointer, requested size).
    pub fn blocks(&self) -> &BTreeMap<BlockId, (Addr, u64)> {
        &self.blocks
    }

    /// Runs the next op against `kernel` (its current process) and `allocator`.
    ///
    /// Running out of memory and faults are outcomes ([`Stepped`]); an op stream that
    /// names a block that is not live, or an allocator that rejects its own pointer,
    /// is an error.
    pub fn step(
        &mut self,
        kernel: &mut Kernel,
        allocator: &mut dyn Allocator,
    ) -> Result<Stepped, ExperimentError> {
        let Some(op) = self.workload.ops.get(self.next).cloned() else {
            return Ok(Stepped::Finished);
        };
        let index = self.next;
        self.next += 1;
        let write_all = self.workload.touch == TouchPolicy::WriteAll;
        let name = allocator.name().to_string();
        let broken = |detail: String| ExperimentError::Driver {
            what: format!("{} op {index} with {name}", self.workload.name),
            detail,
        };
        let ptr = match op {
            Op::Malloc { id, size } => {
                if self.blocks.contains_key(&id) {
                    return Err(broken(format!("block {id} allocated twice")));
                }
                let got = match self.workload.lifetimes.get(&id) {
                    Some(&class) => allocator.malloc_hinted(kernel, size, class),
                    None => allocator.malloc(kernel, size),
                };
                let ptr = match got {
                    Ok(p) => p,
                    Err(e) => return self.stopped(index, e).map_err(broken),
                };
                if write_all && let Err(f) = kernel.touch(ptr, size, Access::Write) {
                    // The block exists even though writing it failed: record it, so the
                    // program's accounts match the allocator's.
                    self.blocks.insert(id, (ptr, size));
                    self.live += size;
                    return Ok(fault(index, f));
                }
                self.blocks.insert(id, (ptr, size));
                self.live += size;
                Some(ptr)
            }
            Op::Free { id } => {
                let Some((ptr, size)) = self.blocks.remove(&id) else {
                    return Err(broken(format!("free of block {id}, which is not live")));
                };
                self.live -= size;
                match allocator.free(kernel, ptr) {
                    Ok(()) => None,
                    Err(AllocError::Syscall(Errno::ENOMEM)) => {
                        return Ok(Stepped::FreeRefused {
                            index,
                            detail: "munmap refused with ENOMEM".to_string(),
                        });
                    }
                    Err(e) => return self.stopped(index, e).map_err(broken),
                }
            }
            Op::Realloc { id, size } => {
                let Some(&(old, old_size)) = self.blocks.get(&id) else {
                    return Err(broken(format!("realloc of block {id}, which is not live")));
                };
                let ptr = match allocator.realloc(kernel, old, size) {
                    Ok(p) => p,
                    Err(e) => return self.stopped(index, e).map_err(broken),
                };
                self.blocks.insert(id, (ptr, size));
                self.live = self.live - old_size + size;
                if write_all
                    && size > old_size
                    && let Err(f) = kernel.touch(ptr + old_size, size - old_size, Access::Write)
                {
                    return Ok(fault(index, f));
                }
                Some(ptr)
            }
            Op::Touch {
                id,
                offset,
                len,
                write,
            } => {
                let Some(&(ptr, _)) = self.blocks.get(&id) else {
                    return Err(broken(format!("touch of block {id}, which is not live")));
                };
                let access = if write { Access::Write } else { Access::Read };
                if let Err(f) = kernel.touch(ptr + offset, len, access) {
                    return Ok(fault(index, f));
                }
                None
            }
            Op::Trim { pad } => {
                if let Err(e) = allocator.trim(kernel, pad) {
                    return self.stopped(index, e).map_err(broken);
                }
                None
            }
            Op::Phase { .. } => None,
        };
        Ok(Stepped::Ran { index, ptr })
    }

    /// An allocator error as an outcome (OOM, SIGSEGV) or, when the allocator broke
    /// its contract, as the message of an error. A syscall refused with ENOMEM is the
    /// kernel running out (of frames, address space or VMAs): an OOM.
    fn stopped(&self, index: usize, e: AllocError) -> Result<Stepped, String> {
        match e {
            AllocError::OutOfMemory { .. } | AllocError::Syscall(Errno::ENOMEM) => {
                Ok(Stepped::OutOfMemory {
                    index,
                    detail: e.to_string(),
                })
            }
            AllocError::Fault(f) => Ok(fault(index, f)),
            other => Err(other.to_string()),
        }
    }
}

fn fault(index: usize, f: Fault) -> Stepped {
    match f {
        Fault::OutOfMemory { .. } => Stepped::OutOfMemory {
            index,
            detail: f.to_string(),
        },
        Fault::Segv { .. } => Stepped::Segv {
            index,
            detail: f.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::KernelConfig;
    use malloc::glibc::Glibc;

    #[test]
    fn a_program_runs_to_the_end_and_frees_everything() {
        let w = workload::generate("churn", 3, Some(400)).unwrap();
        let n = w.ops.len();
        let mut k = Kernel::new(KernelConfig::default());
        let mut a = Glibc::new();
        let mut p = Program::new(w);
        let mut ran = 0;
        loop {
            match p.step(&mut k, &mut a).unwrap() {
                Stepped::Ran { index, .. } => {
                    assert_eq!(index, ran);
                    ran += 1;
                }
                Stepped::Finished => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ran, n);
        assert!(p.finished());
        assert_eq!(p.live(), 0);
        assert!(p.blocks().is_empty());
        assert!(k.mem().rss > 0, "the program wrote its blocks");
    }

    #[test]
    fn running_out_of_frames_is_an_outcome() {
        let cfg = KernelConfig {
            phys_bytes: 64 * 4096,
            ..KernelConfig::default()
        };
        let mut k = Kernel::new(cfg);
        let mut w = Workload::new("big");
        w.ops.push(Op::Malloc {
            id: 0,
            size: 1 << 20,
        });
        let mut p = Program::new(w);
        let mut a = Glibc::new();
        match p.step(&mut k, &mut a).unwrap() {
            Stepped::OutOfMemory { index, .. } => assert_eq!(index, 0),
            other => panic!("expected OOM, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_stream_is_an_error() {
        let mut w = Workload::new("bad");
        w.ops.push(Op::Free { id: 7 });
        let mut p = Program::new(w);
        let mut k = Kernel::new(KernelConfig::default());
        let err = p.step(&mut k, &mut Glibc::new()).unwrap_err();
        assert!(err.to_string().contains("block 7"), "{err}");
    }
}
