//! Rounding counts to a base (ONS "10-5", OpenSAFELY's 5), half up.

/// `count` rounded to the nearest multiple of `base`, halves up; `base` below 2 leaves it.
pub fn round_to_base(count: u64, base: u64) -> u64 {
    if base < 2 {
        return count;
    }
    count.saturating_add(base / 2) / base * base
}

/// The same for a whole count held as `f64` (every count the parser accepts is below 2^53).
pub(crate) fn round_count(count: f64, base: u64) -> f64 {
    round_to_base(count as u64, base) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up_to_the_base() {
        let got: Vec<u64> = [0, 1, 2, 3, 7, 8, 12, 13, 15, 17, 18]
            .map(|n| round_to_base(n, 5))
            .to_vec();
        assert_eq!(got, [0, 0, 0, 5, 5, 10, 10, 15, 15, 15, 20]);
        assert_eq!(
            [4, 5, 14, 15].map(|n| round_to_base(n, 10)),
            [0, 10, 10, 20]
        );
        assert_eq!(round_to_base(7, 1), 7);
        assert_eq!(round_to_base(u64::MAX, 5), (u64::MAX / 5) * 5);
    }
}
