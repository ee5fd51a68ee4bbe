//! Deterministic randomness for the load generator.
//!
//! Every target must receive byte-identical load, so nothing here may depend on
//! the OS random source or on thread scheduling.

/// SplitMix64: tiny, fast, and good enough for synthetic metric values.
#[derive(Clone, Debug)]
pub struct Rng(u64);

/// SplitMix64 finaliser, also used as a stateless hash for per-scrape jitter.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// Independent stream per (seed, stream id) so that an instance's values do
    /// not depend on which other instances share its sender shard.
    pub fn derive(seed: u64, stream: u64) -> Self {
        Rng(mix(seed ^ mix(stream)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Rates, latencies and sizes in real systems spread over orders of
    /// magnitude; a log-uniform draw reproduces that skew.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal via Box–Muller (the second value is dropped to keep the
    /// state machine trivially reproducible).
    pub fn gauss(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Event count with the given mean: exact Poisson for small means (where
    /// the discreteness is visible in the data), normal approximation above.
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean < 30.0 {
            let limit = (-mean).exp();
            let mut k = 0u64;
            let mut p = self.unit();
            // The bound only matters for pathological inputs; for mean < 30 the
            // loop ends long before it.
            while p > limit && k < 1000 {
                k += 1;
                p *= self.unit();
            }
            k
        } else {
            (mean + mean.sqrt() * self.gauss()).round().max(0.0) as u64
        }
    }

    /// Successes out of `n` trials, approximated (Poisson for rare events,
    /// normal otherwise) because exact sampling per request would dominate the
    /// generator's cost at high rates.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p <= 0.0 {
            return 0;
        }
        let mean = n as f64 * p;
        let k = if mean < 30.0 {
            self.poisson(mean)
        } else {
            let sd = (mean * (1.0 - p)).sqrt();
            (mean + sd * self.gauss()).round().max(0.0) as u64
        };
        k.min(n)
    }
}

/// Standard normal CDF. Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), which is
/// far below what rounding bucket counts to integers can reveal.
pub fn norm_cdf(x: f64) -> f64 {
    let z = x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf_abs = 1.0 - poly * (-z * z).exp();
    let erf = if z >= 0.0 { erf_abs } else { -erf_abs };
    0.5 * (1.0 + erf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible() {
        let a: Vec<u64> = {
            let mut r = Rng::derive(7, 3);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::derive(7, 3);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        let mut other = Rng::derive(7, 4);
        assert_ne!(a[0], other.next_u64());
    }

    #[test]
    fn cdf_is_sane() {
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((norm_cdf(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((norm_cdf(-1.959_964) - 0.025).abs() < 1e-6);
        assert!(norm_cdf(9.0) <= 1.0 && norm_cdf(-9.0) >= 0.0);
    }

    #[test]
    fn counts_have_roughly_the_right_mean() {
        let mut r = Rng::derive(1, 1);
        for mean in [0.5, 4.0, 25.0, 400.0] {
            let n = 20_000;
            let total: u64 = (0..n).map(|_| r.poisson(mean)).sum();
            let got = total as f64 / n as f64;
            assert!(
                (got - mean).abs() < mean * 0.05 + 0.05,
                "mean {mean}: got {got}"
            );
        }
        assert!(r.binomial(10, 1.0) <= 10);
    }
}
