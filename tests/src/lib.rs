//! Cross-crate integration tests for snowflk; the tests live in `tests/tests/`.
