//! Allocators that get every block (or region) straight from `mmap`.
//!
//! # Brief overview
//! - `MmapAllocator` (`mmap`): one anonymous mapping per block, `munmap` on free.
//!
//! This crate knows nothing about workloads or metrics; it implements
//! [`malloc::Allocator`] on a [`kernel::Kernel`].
