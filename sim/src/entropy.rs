//! Random values (GUIDs, secrets, fault probabilities) from the standard library's per-process random hash keys.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A random 64-bit value. Not cryptographic; good enough for identifiers and coin flips in a simulator.
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A uniformly distributed value in [0, 1).
pub fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random version-4 GUID in Azure's lower-case form.
pub fn guid() -> String {
    let a = random_u64();
    let b = random_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// A keyed 64-bit digest, used to sign simulator tokens so that they survive a restart with `--state`.
pub fn keyed_digest(key: &str, data: &str) -> u64 {
    // SipHash with fixed keys is deterministic across processes of the same build; the secret goes in the data.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    h.write(key.as_bytes());
    h.write_u8(0);
    h.write(data.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_well_formed_and_distinct() {
        let a = guid();
        let b = guid();
        assert_ne!(a, b);
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
    }
}
