//! Real runs on this machine, to calibrate and check the model.
//!
//! # Brief overview
//! Replays of op streams through the real libc `malloc` and through raw `mmap`, and
//! lmbench-style microbenchmarks of the kernel's costs. The only crate that calls real
//! libc allocation and memory syscalls; every `unsafe` block says why it is sound.
//! Linux + glibc only: elsewhere it compiles and reports itself unavailable.
