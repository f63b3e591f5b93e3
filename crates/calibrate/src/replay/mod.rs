//! Real replays of op streams through libc malloc and raw mmap.
