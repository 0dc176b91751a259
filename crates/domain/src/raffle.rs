//! The raffle draw: reproducible by anyone from the revealed seed.
//!
//! When a raffle lot opens it commits to a 32-byte seed by publishing
//! `seed_hash = hex(SHA-256(seed))`. At close it reveals the seed and draws
//! with [`draw`]. Anyone holding the list of entries (in entry order) can check
//! that `SHA-256(seed)` is the published hash and re-run the draw:
//!
//! ```text
//! positions = [0, 1, ..., n-1]            (entries in the order they entered)
//! for i in 0 .. min(k, n):
//!     r = first 8 bytes, big-endian, of SHA-256(seed || i as 8 bytes big-endian)
//!     j = i + (r mod (n - i))
//!     swap positions[i] and positions[j]
//! winners = positions[0 .. min(k, n)]
//! ```
//!
//! (A partial Fisher-Yates shuffle; the modulo bias is below 2^-40 for any
//! realistic entry count.)

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `seed`: the commitment published at open.
pub fn seed_hash(seed: &[u8; 32]) -> String {
    hex(&Sha256::digest(seed))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Draws `k` distinct winners among `n` entries; returns their positions in
/// draw order.
pub fn draw(seed: &[u8; 32], n: usize, k: usize) -> Vec<usize> {
    let k = k.min(n);
    let mut positions: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let mut hasher = Sha256::new();
        hasher.update(seed);
        hasher.update((i as u64).to_be_bytes());
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let r = u64::from_be_bytes(first);
        let j = i + (r % (n - i) as u64) as usize;
        positions.swap(i, j);
    }
    positions.truncate(k);
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_is_reproducible_and_distinct() {
        let seed = [7u8; 32];
        let a = draw(&seed, 100, 10);
        assert_eq!(a, draw(&seed, 100, 10));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
        assert!(a.iter().all(|&p| p < 100));
        assert_ne!(a, draw(&[8u8; 32], 100, 10));
    }

    #[test]
    fn draw_takes_everyone_when_there_are_fewer_entries_than_units() {
        let mut all = draw(&[1u8; 32], 3, 10);
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2]);
        assert!(draw(&[1u8; 32], 0, 10).is_empty());
    }

    /// Expected values computed by an independent Python implementation of the
    /// algorithm in the module doc, so the doc and the code cannot drift apart.
    #[test]
    fn draw_matches_the_documented_algorithm() {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            seed_hash(&seed),
            "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
        );
        assert_eq!(draw(&seed, 10, 3), vec![1, 2, 4]);
        assert_eq!(draw(&seed, 1000, 5), vec![221, 929, 854, 118, 813]);
    }

    #[test]
    fn seed_hash_is_sha256_hex() {
        assert_eq!(
            seed_hash(&[0u8; 32]),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }
}
