//! Benchmarks for snowflk; see `benches/` and `docs/benchmarks.md`.
