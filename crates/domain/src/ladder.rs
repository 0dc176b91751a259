//! The auction bid increment ladder.

use liveshop_protocol::{Amount, Currency};

/// `(from, increment)` in major currency units: from a price of `from`, the
/// next bid must be at least `increment` higher.
const LADDER: [(u64, u64); 7] = [
    (0, 1),
    (30, 2),
    (50, 3),
    (100, 5),
    (300, 10),
    (1_000, 20),
    (2_000, 50),
];

/// The increment that applies at `price` (minor units): the lot's fixed
/// `min_increment` if it has one, otherwise the ladder step for `price`,
/// scaled to the currency's minor unit. Never 0.
pub fn increment(price: Amount, currency: Currency, min_increment: Option<Amount>) -> Amount {
    if let Some(fixed) = min_increment {
        return fixed.max(1);
    }
    let unit = currency.minor_per_major();
    let step = LADDER
        .iter()
        .rev()
        .find(|(from, _)| price >= from.saturating_mul(unit))
        .map_or(1, |(_, inc)| *inc);
    step.saturating_mul(unit).max(1)
}

/// The lowest bid that beats `price`.
pub fn next_bid(price: Amount, currency: Currency, min_increment: Option<Amount>) -> Amount {
    price.saturating_add(increment(price, currency, min_increment))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: Currency = Currency::USD;

    #[test]
    fn ladder_steps_up_at_each_threshold() {
        assert_eq!(increment(0, USD, None), 100);
        assert_eq!(increment(2_999, USD, None), 100);
        assert_eq!(increment(3_000, USD, None), 200);
        assert_eq!(increment(5_000, USD, None), 300);
        assert_eq!(increment(10_000, USD, None), 500);
        assert_eq!(increment(30_000, USD, None), 1_000);
        assert_eq!(increment(100_000, USD, None), 2_000);
        assert_eq!(increment(199_999, USD, None), 2_000);
        assert_eq!(increment(200_000, USD, None), 5_000);
        assert_eq!(increment(u64::MAX, USD, None), 5_000);
    }

    #[test]
    fn ladder_scales_with_the_currency_minor_unit() {
        let jpy = Currency::new("JPY").unwrap();
        assert_eq!(increment(0, jpy, None), 1);
        assert_eq!(increment(30, jpy, None), 2);
    }

    #[test]
    fn fixed_increment_replaces_the_ladder_and_is_never_zero() {
        assert_eq!(increment(50_000, USD, Some(25)), 25);
        assert_eq!(increment(50_000, USD, Some(0)), 1);
    }

    #[test]
    fn next_bid_saturates_instead_of_overflowing() {
        assert_eq!(next_bid(u64::MAX, USD, None), u64::MAX);
    }
}
