//! A model of glibc 2.36 malloc (ptmalloc2) for a single-threaded program.
