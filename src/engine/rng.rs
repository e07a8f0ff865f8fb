//! Random streams.
//!
//! Every component draws from its own generator, seeded from the run's master seed and the
//! component's *name* rather than from a shared generator or a creation counter. Two things follow:
//!
//! * a run is a pure function of (scenario, master seed), whatever order components are built or
//!   events interleave in;
//! * adding, removing or reordering a component leaves every other component's draws untouched,
//!   so a one-line scenario change shows its own effect instead of reshuffling all the noise.
//!
//! The derivation is versioned (`/v1` in the domain-separation prefix). Changing the prefix, the
//! hash, the byte layout or the generator changes every stream and breaks replay of saved runs;
//! bump the version tag if that is ever intended.

use rand::SeedableRng;

/// The generator each component owns. ChaCha12 is fast enough for the hot path, portable and
/// value-stable across platforms and `rand_chacha` releases, which matters more here than raw
/// speed: a saved run must replay bit-for-bit.
pub type ComponentRng = rand_chacha::ChaCha12Rng;

const RNG_DOMAIN: &[u8] = b"edgesim/rng/v1\0";
const SEED_DOMAIN: &[u8] = b"edgesim/seed/v1\0";

/// Hashes `domain || master_seed (LE) || label`. The label is last and the other parts have a
/// fixed length, so no two (seed, label) pairs can produce the same input bytes.
fn hash(domain: &[u8], master_seed: u64, label: &str) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    h.update(domain);
    h.update(&master_seed.to_le_bytes());
    h.update(label.as_bytes());
    h.finalize()
}

/// The random stream of the component called `component` in a run seeded with `master_seed`.
///
/// One stream per component, derived from the master seed and the component's name, so adding a
/// component does not perturb the draws of the others. Names must therefore be unique within a
/// run: two components with the same name would replay identical randomness.
pub fn component_rng(master_seed: u64, component: &str) -> ComponentRng {
    ComponentRng::from_seed(*hash(RNG_DOMAIN, master_seed, component).as_bytes())
}

/// A new master seed derived from `master_seed` and `label`, e.g. the seed of replication 7 of a
/// sweep point. Uses a different domain tag from [`component_rng`], so a derived seed is never
/// correlated with a component stream of the parent run.
pub fn derive_seed(master_seed: u64, label: &str) -> u64 {
    let bytes = hash(SEED_DOMAIN, master_seed, label);
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore};

    fn first_n(rng: &mut ComponentRng, n: usize) -> Vec<u64> {
        (0..n).map(|_| rng.next_u64()).collect()
    }

    #[test]
    fn same_seed_and_name_give_identical_streams() {
        let a = first_n(&mut component_rng(7, "proxy"), 100);
        let b = first_n(&mut component_rng(7, "proxy"), 100);
        assert_eq!(a, b);
    }

    #[test]
    fn different_names_give_different_streams() {
        let a = first_n(&mut component_rng(7, "proxy"), 100);
        let b = first_n(&mut component_rng(7, "webhook"), 100);
        assert_ne!(a, b);
        // Near-identical names must not share a prefix of their streams either.
        let c = first_n(&mut component_rng(7, "proxy2"), 1);
        assert_ne!(a[0], c[0]);
    }

    #[test]
    fn different_seeds_give_different_streams() {
        let a = first_n(&mut component_rng(7, "proxy"), 100);
        let b = first_n(&mut component_rng(8, "proxy"), 100);
        assert_ne!(a, b);
    }

    /// The seed is exactly the documented byte layout, with no hidden framing.
    #[test]
    fn seed_layout_matches_documentation() {
        let mut input = b"edgesim/rng/v1\0".to_vec();
        input.extend_from_slice(&42u64.to_le_bytes());
        input.extend_from_slice(b"edge");
        let expected = ComponentRng::from_seed(*blake3::hash(&input).as_bytes());
        assert_eq!(component_rng(42, "edge"), expected);
    }

    /// Pins the derivation. If this fails, every saved run and every published result stops
    /// replaying: do not update the constant unless that breakage is intended (and then bump the
    /// `/v1` domain tag so old and new streams can never be confused).
    #[test]
    fn golden_first_draw() {
        let mut rng = component_rng(42, "edge");
        assert_eq!(rng.next_u64(), GOLDEN_42_EDGE);
    }
    const GOLDEN_42_EDGE: u64 = 9_201_624_835_697_378_777;

    /// Same contract as `golden_first_draw`, for sweep replication seeds.
    #[test]
    fn derive_seed_is_stable_and_label_sensitive() {
        assert_eq!(derive_seed(42, "rep/0"), derive_seed(42, "rep/0"));
        assert_ne!(derive_seed(42, "rep/0"), derive_seed(42, "rep/1"));
        assert_ne!(derive_seed(42, "rep/0"), derive_seed(43, "rep/0"));
        assert_eq!(derive_seed(42, "rep/0"), GOLDEN_SEED_42_REP0);
    }
    const GOLDEN_SEED_42_REP0: u64 = 9_571_464_165_573_575_828;

    /// Pearson chi-square test of `gen_range(0..16)` over 160 000 draws (10 000 expected per
    /// bin, so the chi-square approximation is excellent).
    ///
    /// Critical value: chi-square with 15 degrees of freedom at alpha = 0.001 is 37.70. The seed
    /// is fixed, so the test is deterministic; alpha only says how unlucky a seed would have to
    /// be for a correct generator to fail (1 in 1000), which makes a failure strong evidence of a
    /// real defect (bad seeding, modulo bias, a broken stream) rather than noise. A looser alpha
    /// would still catch gross bias; a stricter one would buy nothing with a fixed seed.
    #[test]
    fn gen_range_is_uniform_chi_square() {
        const BINS: usize = 16;
        const DRAWS: usize = 160_000;
        const CRITICAL_DF15_ALPHA_0_001: f64 = 37.70;
        let mut rng = component_rng(42, "chi-square");
        let mut counts = [0u64; BINS];
        for _ in 0..DRAWS {
            counts[rng.gen_range(0..BINS)] += 1;
        }
        let expected = (DRAWS / BINS) as f64;
        let chi2: f64 = counts.iter().map(|&o| (o as f64 - expected).powi(2) / expected).sum();
        assert!(chi2 < CRITICAL_DF15_ALPHA_0_001, "chi-square {chi2:.2} >= {CRITICAL_DF15_ALPHA_0_001} (df = 15, alpha = 0.001); counts {counts:?}");
    }
}
