//! Cost microbenchmarks.
