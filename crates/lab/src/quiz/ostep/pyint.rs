//! Integers as Python reads them: `int(text, base)`, and optparse's choice of base.
//!
//! malloc.py takes its numbers through Python's `optparse` (type `int`) and its op list
//! through `int()`. Both accept more than plain decimal, and a faithful reproduction
//! has to accept the same texts and read them as the same numbers:
//! - `int(text, base)` ignores white space around the number, takes an optional sign,
//!   an optional base prefix matching the base (`0x` for 16, `0o` for 8, `0b` for 2),
//!   and digits with single underscores between them (`1_000`; after a prefix one
//!   underscore may come first: `0x_ff`). Base 10 accepts leading zeros (`int("010")`
//!   is 10) and at most 4300 digits (Python 3.11's limit on decimal conversions).
//! - optparse picks the base from the text's first characters *before* any of that:
//!   `0x…` is hexadecimal, `0b…` binary (optparse strips the prefix itself), any other
//!   text starting with `0` is octal, the rest decimal. So `-s 010` is seed 8, and
//!   `-s -0x10` is an error (decimal, and `x` is no digit).
//!
//! Values are arbitrary-precision here as in Python (a seed can be any size); the
//! simulation itself works in 64-bit integers and says so when a value does not fit.

use std::fmt;

/// An integer of any size: a sign and a magnitude in 32-bit words, least significant
/// first, without leading zero words (zero is no words and not negative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BigInt {
    negative: bool,
    words: Vec<u32>,
}

impl BigInt {
    /// Zero.
    pub fn zero() -> BigInt {
        BigInt {
            negative: false,
            words: Vec::new(),
        }
    }

    /// The value as an `i64`, when it fits.
    pub fn to_i64(&self) -> Option<i64> {
        if self.words.len() > 2 {
            return None;
        }
        let mag = self
            .words
            .iter()
            .rev()
            .fold(0u64, |acc, &w| (acc << 32) | u64::from(w));
        if self.negative {
            (mag <= 1u64 << 63).then(|| (mag as i64).wrapping_neg())
        } else {
            i64::try_from(mag).ok()
        }
    }

    /// The 32-bit words of the absolute value, least significant first: the key CPython's
    /// `random.seed` passes to `init_by_array`.
    pub fn abs_words(&self) -> &[u32] {
        &self.words
    }

    fn mul_add(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for w in &mut self.words {
            let v = u64::from(*w) * u64::from(mul) + carry;
            *w = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.words.push(carry as u32);
        }
    }

    /// Divides the magnitude by `d` in place and returns the remainder.
    fn div_rem(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for w in self.words.iter_mut().rev() {
            let v = (rem << 32) | u64::from(*w);
            *w = (v / u64::from(d)) as u32;
            rem = v % u64::from(d);
        }
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
        rem as u32
    }
}

impl fmt::Display for BigInt {
    /// Decimal, with a `-` for negative numbers: what Python's `print` shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.words.is_empty() {
            return f.write_str("0");
        }
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.words.is_empty() {
            chunks.push(n.div_rem(1_000_000_000));
        }
        if self.negative {
            f.write_str("-")?;
        }
        let mut it = chunks.iter().rev();
        if let Some(first) = it.next() {
            write!(f, "{first}")?;
        }
        for c in it {
            write!(f, "{c:09}")?;
        }
        Ok(())
    }
}

/// Python's `int(text, base)` for base 2, 8, 10 or 16; `None` where Python raises
/// `ValueError`.
pub fn int_with_base(text: &str, base: u32) -> Option<BigInt> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let prefix = match base {
        16 => ["0x", "0X"],
        8 => ["0o", "0O"],
        2 => ["0b", "0B"],
        _ => ["", ""],
    };
    let (prefixed, mut digits) = match prefix
        .iter()
        .filter(|p| !p.is_empty())
        .find_map(|p| t.strip_prefix(p))
    {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if prefixed && let Some(rest) = digits.strip_prefix('_') {
        digits = rest;
    }
    let mut n = BigInt {
        negative: false,
        words: Vec::new(),
    };
    let mut count = 0usize;
    let mut last_underscore = true; // no leading underscore (after the one allowed above)
    for c in digits.chars() {
        if c == '_' {
            if last_underscore {
                return None;
            }
            last_underscore = true;
            continue;
        }
        let d = c.to_digit(base)?;
        n.mul_add(base, d);
        count += 1;
        last_underscore = false;
    }
    if count == 0 || last_underscore || (base == 10 && count > 4300) {
        return None;
    }
    n.negative = negative && !n.words.is_empty();
    Some(n)
}

/// Python's `int(text)` (base 10).
pub fn int(text: &str) -> Option<BigInt> {
    int_with_base(text, 10)
}

/// How optparse's `int` type reads an option value (`optparse._parse_num`).
pub fn optparse_int(text: &str) -> Option<BigInt> {
    let head: String = text.chars().take(2).collect::<String>().to_lowercase();
    if head == "0x" {
        int_with_base(text, 16)
    } else if head == "0b" {
        let rest = &text[2..];
        int_with_base(if rest.is_empty() { "0" } else { rest }, 2)
    } else if text.starts_with('0') {
        int_with_base(text, 8)
    } else {
        int_with_base(text, 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(t: &str) -> Option<i64> {
        int(t).and_then(|b| b.to_i64())
    }

    #[test]
    fn python_int_accepts_what_python_accepts() {
        assert_eq!(val("10"), Some(10));
        assert_eq!(val(" 1_0 "), Some(10));
        assert_eq!(val("+5"), Some(5));
        assert_eq!(val("-05"), Some(-5));
        assert_eq!(val("010"), Some(10));
        for bad in ["", "1__0", "_1", "1_", "0x10", "1e3", "--1", "+", " "] {
            assert_eq!(val(bad), None, "{bad:?}");
        }
        assert_eq!(
            int_with_base("0x_1f", 16).and_then(|b| b.to_i64()),
            Some(31)
        );
        assert_eq!(int_with_base("0o17", 8).and_then(|b| b.to_i64()), Some(15));
    }

    #[test]
    fn optparse_picks_the_base_from_the_first_characters() {
        let v = |t: &str| optparse_int(t).and_then(|b| b.to_i64());
        assert_eq!(v("010"), Some(8));
        assert_eq!(v("0x80"), Some(128));
        assert_eq!(v("0b1010"), Some(10));
        assert_eq!(v("0b"), Some(0));
        assert_eq!(v("0"), Some(0));
        assert_eq!(v("-7"), Some(-7));
        assert_eq!(v("08"), None);
        assert_eq!(v("-0x10"), None);
    }

    #[test]
    fn big_numbers_print_and_split_into_words() {
        let n = int("123456789012345678901234567890").unwrap();
        assert_eq!(n.to_string(), "123456789012345678901234567890");
        assert_eq!(n.to_i64(), None);
        let w = int("4294967296").unwrap();
        assert_eq!(w.abs_words(), &[0, 1]);
        assert_eq!(int("-0").unwrap().to_string(), "0");
        assert_eq!(
            int("-9223372036854775808").unwrap().to_i64(),
            Some(i64::MIN)
        );
        assert_eq!(int("9223372036854775808").unwrap().to_i64(), None);
    }
}
