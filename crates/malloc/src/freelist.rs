//! Textbook free-list allocators over brk: first, next, best and worst fit.
