//! Shared helpers for snowflk's benchmarks (see `benches/benches/` and
//! `docs/benchmarks.md`): the standard key and value shapes.

/// Key length used by the engine benchmarks, in bytes.
pub const KEY_LEN: usize = 16;
/// Value length used by the engine benchmarks, in bytes.
pub const VALUE_LEN: usize = 100;

/// The `i`-th benchmark key: 16 bytes, spread over the hash space.
pub fn key(i: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[..8].copy_from_slice(b"bench-k:");
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// A 100-byte value derived from `i`.
pub fn value(i: u64) -> [u8; VALUE_LEN] {
    let mut v = [0u8; VALUE_LEN];
    for (j, b) in v.iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(j) as u8;
    }
    v
}
