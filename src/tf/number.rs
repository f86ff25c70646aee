//! Terraform's arbitrary-precision numbers.
//!
//! Written by hand on num-bigint rather than with a decimal crate because the semantics we need are narrow and
//! specific to cty: exact values (never rounded), value equality, an exact reading of binary floats, and a
//! canonical plain decimal text like Go's `big.Float.Text('f', -1)`.

use std::fmt;
use std::str::FromStr;

use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_traits::{Signed, ToPrimitive, Zero};

/// Largest decimal exponent we accept. Far beyond f64 (1e308) and any real configuration, yet small enough
/// that the plain decimal text of any accepted number stays bounded in size.
const MAX_EXPONENT: i64 = 10_000;

/// Most significant digits we accept. Terraform's numbers are 512-bit floats, whose shortest decimal text
/// has about 155 significant digits, and the exact expansion of any f64 has at most 767; the cap keeps
/// hostile input from making us parse megabytes of digits (quadratic in num-bigint).
const MAX_DIGITS: usize = 1100;

/// An exact decimal number: `mantissa * 10^exponent`, kept normalized (no trailing zero digits in the
/// mantissa, and zero is `0 * 10^0`) so that equal values have equal representations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number {
    mantissa: BigInt,
    exponent: i64,
}

/// Why a string is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{0:?} is not a decimal number")]
    Syntax(String),
    #[error(
        "{0:?} is beyond the supported numbers (at most {MAX_DIGITS} significant digits, exponent at most {MAX_EXPONENT})"
    )]
    OutOfRange(String),
}

impl Number {
    fn normalized(mut mantissa: BigInt, mut exponent: i64) -> Number {
        if mantissa.is_zero() {
            return Number {
                mantissa,
                exponent: 0,
            };
        }
        let ten = BigInt::from(10);
        loop {
            let (quotient, remainder) = mantissa.div_rem(&ten);
            if !remainder.is_zero() {
                break;
            }
            mantissa = quotient;
            exponent += 1;
        }
        Number { mantissa, exponent }
    }

    /// The exact value of a finite float: `0.1f64` is 0.1000000000000000055511151231257827021181583404541015625,
    /// which is what Terraform means when it sends that float. Use [`Number::parse`] for decimal literals.
    pub fn from_f64(value: f64) -> Option<Number> {
        if !value.is_finite() {
            return None;
        }
        if value == 0.0 {
            return Some(Number::from(0u64));
        }
        let bits = value.to_bits();
        let negative = bits >> 63 == 1;
        let biased_exponent = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1u64 << 52) - 1);
        // value = significand * 2^binary_exponent, with subnormals lacking the implicit leading bit.
        let (significand, binary_exponent) = if biased_exponent == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1u64 << 52), biased_exponent - 1075)
        };
        let mut mantissa = BigInt::from(significand);
        let exponent = if binary_exponent >= 0 {
            mantissa <<= binary_exponent as usize;
            0
        } else {
            // m * 2^-k == m * 5^k * 10^-k
            let k = -binary_exponent;
            mantissa *= num_traits::pow(BigInt::from(5), k as usize);
            -k
        };
        if negative {
            mantissa = -mantissa;
        }
        Some(Number::normalized(mantissa, exponent))
    }

    /// Parses a decimal number: optional sign, digits with an optional fraction, optional exponent
    /// (`-12`, `0.1`, `.5`, `1e400`, `2.5E-3`).
    pub fn parse(text: &str) -> Result<Number, NumberError> {
        let syntax = || NumberError::Syntax(text.to_owned());
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (decimal, exponent_text) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
            None => (unsigned, None),
        };
        let (whole, fraction) = match decimal.find('.') {
            Some(at) => (&decimal[..at], &decimal[at + 1..]),
            None => (decimal, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
            return Err(syntax());
        }
        let mut exponent: i64 = match exponent_text {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !all_digits(digits) {
                    return Err(syntax());
                }
                e.parse()
                    .map_err(|_| NumberError::OutOfRange(text.to_owned()))?
            }
        };
        let fraction_len =
            i64::try_from(fraction.len()).map_err(|_| NumberError::OutOfRange(text.to_owned()))?;
        exponent = exponent
            .checked_sub(fraction_len)
            .ok_or_else(|| NumberError::OutOfRange(text.to_owned()))?;
        let digits = format!("{whole}{fraction}");
        let significant = digits.trim_start_matches('0');
        let trimmed = significant.trim_end_matches('0');
        if trimmed.is_empty() {
            return Ok(Number::from(0u64));
        }
        if trimmed.len() > MAX_DIGITS {
            return Err(NumberError::OutOfRange(text.to_owned()));
        }
        let dropped = i64::try_from(significant.len() - trimmed.len())
            .map_err(|_| NumberError::OutOfRange(text.to_owned()))?;
        exponent = exponent
            .checked_add(dropped)
            .ok_or_else(|| NumberError::OutOfRange(text.to_owned()))?;
        if exponent.abs() > MAX_EXPONENT {
            return Err(NumberError::OutOfRange(text.to_owned()));
        }
        let mut mantissa = BigInt::parse_bytes(trimmed.as_bytes(), 10).ok_or_else(syntax)?;
        if negative {
            mantissa = -mantissa;
        }
        Ok(Number { mantissa, exponent })
    }

    pub fn is_integer(&self) -> bool {
        self.exponent >= 0
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa.is_negative()
    }

    /// The integer value, when this is an integer that fits (enormous exponents never build a BigInt).
    fn to_bigint(&self) -> Option<BigInt> {
        // A normalized non-zero integer with exponent 40 is at least 1e40, beyond every primitive integer.
        if !(0..=40).contains(&self.exponent) {
            return None;
        }
        Some(&self.mantissa * num_traits::pow(BigInt::from(10), self.exponent as usize))
    }

    /// The value as i64, only when it is exactly an integer in range.
    pub fn to_i64(&self) -> Option<i64> {
        self.to_bigint()?.to_i64()
    }

    pub fn to_u64(&self) -> Option<u64> {
        self.to_bigint()?.to_u64()
    }

    pub fn to_u32(&self) -> Option<u32> {
        self.to_bigint()?.to_u32()
    }

    /// The nearest float (infinite when beyond the f64 range).
    pub fn to_f64(&self) -> f64 {
        // Rust's float parser rounds correctly however many digits it is given.
        format!("{}e{}", self.mantissa, self.exponent)
            .parse()
            .unwrap_or(f64::NAN)
    }

    /// The float with exactly this value, if there is one.
    pub fn to_exact_f64(&self) -> Option<f64> {
        let float = self.to_f64();
        (Number::from_f64(float).as_ref() == Some(self)).then_some(float)
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Number {
        Number::normalized(BigInt::from(value), 0)
    }
}

impl From<u64> for Number {
    fn from(value: u64) -> Number {
        Number::normalized(BigInt::from(value), 0)
    }
}

impl From<u32> for Number {
    fn from(value: u32) -> Number {
        Number::from(u64::from(value))
    }
}

impl FromStr for Number {
    type Err = NumberError;

    fn from_str(text: &str) -> Result<Number, NumberError> {
        Number::parse(text)
    }
}

/// Plain decimal notation without exponent, the shortest that is exact: `-12`, `0.001`, `1` and 400 zeros.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa.sign() == Sign::Minus {
            f.write_str("-")?;
        }
        let digits = self.mantissa.magnitude().to_string();
        let shift = usize::try_from(self.exponent.unsigned_abs()).map_err(|_| fmt::Error)?;
        if self.exponent >= 0 {
            f.write_str(&digits)?;
            for _ in 0..shift {
                f.write_str("0")?;
            }
            return Ok(());
        }
        match digits.len().checked_sub(shift) {
            Some(0) | None => {
                f.write_str("0.")?;
                for _ in 0..shift.saturating_sub(digits.len()) {
                    f.write_str("0")?;
                }
                f.write_str(&digits)
            }
            Some(whole_len) => {
                let (whole, fraction) = digits.split_at(whole_len);
                write!(f, "{whole}.{fraction}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Number {
        Number::parse(text).unwrap()
    }

    #[test]
    fn equality_compares_numeric_value() {
        assert_eq!(n("1"), n("1.0"));
        assert_eq!(n("1"), n("1e0"));
        assert_eq!(n("100"), n("1e2"));
        assert_eq!(n("0.10"), n("1e-1"));
        assert_eq!(n("-0"), Number::from(0i64));
        assert_ne!(n("1"), n("1.0000000000000000000001"));
    }

    #[test]
    fn displays_canonical_plain_decimal() {
        assert_eq!(n("1e2").to_string(), "100");
        assert_eq!(n("0.1").to_string(), "0.1");
        assert_eq!(n("-2.50").to_string(), "-2.5");
        assert_eq!(n("1e-3").to_string(), "0.001");
        assert_eq!(n("12.345").to_string(), "12.345");
        assert_eq!(n("0").to_string(), "0");
        assert_eq!(n("1e400").to_string(), format!("1{}", "0".repeat(400)));
    }

    #[test]
    fn huge_integers_survive_exactly() {
        let two_to_70 = "1180591620717411303424";
        assert_eq!(n(two_to_70).to_string(), two_to_70);
        assert_eq!(n(two_to_70).to_i64(), None);
        assert!(n(two_to_70).is_integer());
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", "1.2.3", "0x10", "1_000", " 1", "inf", "NaN", "--1",
        ] {
            assert!(
                matches!(Number::parse(bad), Err(NumberError::Syntax(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_absurd_exponents_without_allocating() {
        assert!(matches!(
            Number::parse("1e999999999999999999999"),
            Err(NumberError::OutOfRange(_))
        ));
        assert!(matches!(
            Number::parse("1e20000"),
            Err(NumberError::OutOfRange(_))
        ));
        assert_eq!(n("0e999999"), Number::from(0u64));
        assert!(matches!(
            Number::parse(&"7".repeat(5000)),
            Err(NumberError::OutOfRange(_))
        ));
    }

    #[test]
    fn to_i64_only_for_exact_integers_in_range() {
        assert_eq!(n("42").to_i64(), Some(42));
        assert_eq!(n("4.2e1").to_i64(), Some(42));
        assert_eq!(n("-9223372036854775808").to_i64(), Some(i64::MIN));
        assert_eq!(n("9223372036854775808").to_i64(), None);
        assert_eq!(n("1.5").to_i64(), None);
        assert_eq!(n("1e400").to_i64(), None);
        assert_eq!(n("-1").to_u32(), None);
        assert_eq!(n("4294967295").to_u32(), Some(u32::MAX));
    }

    #[test]
    fn floats_convert_exactly() {
        assert_eq!(Number::from_f64(0.5).unwrap(), n("0.5"));
        assert_eq!(
            Number::from_f64(0.1).unwrap().to_string(),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert_eq!(Number::from_f64(-3.0).unwrap(), Number::from(-3i64));
        assert_eq!(Number::from_f64(f64::INFINITY), None);
        assert_eq!(Number::from_f64(f64::NAN), None);
        let tiny = Number::from_f64(f64::from_bits(1)).unwrap();
        assert_eq!(tiny.to_f64(), f64::from_bits(1));
    }

    #[test]
    fn exact_float_only_when_representable() {
        assert_eq!(n("0.5").to_exact_f64(), Some(0.5));
        assert_eq!(n("0.1").to_exact_f64(), None);
        assert_eq!(n("1e400").to_exact_f64(), None);
        assert_eq!(n("1e400").to_f64(), f64::INFINITY);
        assert_eq!(n("0.1").to_f64(), 0.1);
    }

    #[test]
    fn sign_and_integer_predicates() {
        assert!(n("-0.5").is_negative());
        assert!(!n("0").is_negative());
        assert!(!n("0.5").is_integer());
        assert!(n("5e3").is_integer());
    }

    proptest::proptest! {
        #[test]
        fn every_finite_float_round_trips(bits in proptest::prelude::any::<u64>()) {
            let float = f64::from_bits(bits);
            if let Some(number) = Number::from_f64(float) {
                proptest::prop_assert_eq!(number.to_f64(), float);
                proptest::prop_assert_eq!(number.to_exact_f64(), Some(float));
            }
        }

        #[test]
        fn display_parses_back_to_the_same_number(
            mantissa in proptest::prelude::any::<i128>(),
            exponent in -500i64..500,
        ) {
            let number = Number::parse(&format!("{mantissa}e{exponent}")).unwrap();
            proptest::prop_assert_eq!(Number::parse(&number.to_string()).unwrap(), number);
        }

        #[test]
        fn parse_never_panics(text in "[-+0-9.eE]{0,24}") {
            let _ = Number::parse(&text);
        }
    }
}
