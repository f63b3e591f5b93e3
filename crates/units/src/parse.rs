//! Parsing byte counts.

use std::fmt;

/// Why a text is not a byte count. The message quotes the text as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// Nothing, or something that is not a number with an optional unit.
    NotASize(String),
    /// A fraction that is not a whole number of bytes (`1.3K` is 1331.2 bytes).
    Inexact(String),
    /// More than 2^64 - 1 bytes.
    TooLarge(String),
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::NotASize(t) => write!(
                f,
                "`{t}` is not a size (write it as 4096, 0x1000, 4K, 4KiB or 1.5M)"
            ),
            SizeError::Inexact(t) => write!(f, "`{t}` is not a whole number of bytes"),
            SizeError::TooLarge(t) => write!(f, "`{t}` is too large (at most 2^64 - 1 bytes)"),
        }
    }
}

impl std::error::Error for SizeError {}

/// The power of 1024 a unit suffix stands for: `K`/`KiB` 1, `M`/`MiB` 2, `G`/`GiB` 3,
/// `T`/`TiB` 4, `P`/`PiB` 5; no suffix or `B` 0. Lower-case `k`, `m`, `g`, `t`, `p` are
/// accepted too (glibc's tunables take them), and so are `KB`-style spellings, which
/// here also mean powers of 1024 (what `ls -h` and most tools mean by them for memory).
fn unit_power(suffix: &str) -> Option<u32> {
    let s = suffix.trim();
    let s = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix("ib"))
        .or_else(|| s.strip_suffix('B').filter(|r| !r.is_empty()))
        .or_else(|| s.strip_suffix('b').filter(|r| !r.is_empty()))
        .unwrap_or(s);
    Some(match s {
        "" | "B" | "b" => 0,
        "K" | "k" => 1,
        "M" | "m" => 2,
        "G" | "g" => 3,
        "T" | "t" => 4,
        "P" | "p" => 5,
        _ => return None,
    })
}

/// Parses a byte count.
///
/// Accepted: a decimal integer (`4096`), hexadecimal with `0x` (`0x1000`), or a decimal
/// number with a binary unit (`4K`, `4KiB`, `64k`, `1M`, `2G`, `1T`; a space before the
/// unit is allowed). A fraction is accepted only when it names a whole number of bytes:
/// `1.5M` is 1 572 864, `0.5K` is 512, but `1.3K` is an error. Leading and trailing
/// white space is ignored; signs, exponents and digit separators are not sizes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let not_a_size = || SizeError::NotASize(text.trim().to_string());
    let too_large = || SizeError::TooLarge(text.trim().to_string());
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_a_size());
        }
        return u64::from_str_radix(hex, 16).map_err(|_| too_large());
    }
    let number_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(number_end);
    let power = unit_power(suffix).ok_or_else(not_a_size)?;
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_ok(whole) || !digits_ok(frac) {
        return Err(not_a_size());
    }
    if number.ends_with('.') {
        return Err(not_a_size());
    }
    // value = (whole + frac / 10^len) * 1024^power, computed exactly in u128.
    let scale = 1024u128.pow(power);
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let mut total = whole.checked_mul(scale).ok_or_else(too_large)?;
    if !frac.is_empty() {
        if frac.len() > 30 {
            return Err(SizeError::Inexact(text.trim().to_string()));
        }
        let denom = 10u128.pow(frac.len() as u32);
        let numer: u128 = frac.parse().map_err(|_| not_a_size())?;
        let scaled = numer * scale;
        if !scaled.is_multiple_of(denom) {
            return Err(SizeError::Inexact(text.trim().to_string()));
        }
        total = total.checked_add(scaled / denom).ok_or_else(too_large)?;
    }
    u64::try_from(total).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_spelling_parses() {
        for (text, want) in [
            ("4096", 4096),
            ("0x1000", 4096),
            ("0X1000", 4096),
            ("4K", 4096),
            ("4k", 4096),
            ("4KiB", 4096),
            ("4 KiB", 4096),
            ("4KB", 4096),
            ("1M", 1 << 20),
            ("1MiB", 1 << 20),
            ("1.5M", 3 << 19),
            ("0.5K", 512),
            ("2G", 2 << 30),
            ("1T", 1 << 40),
            ("1P", 1 << 50),
            ("0", 0),
            ("  128K ", 128 << 10),
            ("7B", 7),
            ("18446744073709551615", u64::MAX),
            ("0xffffffffffffffff", u64::MAX),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn wrong_spellings_say_what_is_wrong() {
        for text in [
            "", "K", "lots", "-1", "+4", "1e6", "4Q", "0x", "0xg", "1.", ".5K", "1,000", "4 K B",
        ] {
            assert!(
                matches!(parse_size(text), Err(SizeError::NotASize(_))),
                "{text}: {:?}",
                parse_size(text)
            );
        }
        assert_eq!(parse_size("1.3K"), Err(SizeError::Inexact("1.3K".into())));
        assert_eq!(parse_size("0.5"), Err(SizeError::Inexact("0.5".into())));
        assert_eq!(
            parse_size("18446744073709551616"),
            Err(SizeError::TooLarge("18446744073709551616".into()))
        );
        assert_eq!(
            parse_size("16384P"),
            Err(SizeError::TooLarge("16384P".into()))
        );
        assert_eq!(
            parse_size("lots").unwrap_err().to_string(),
            "`lots` is not a size (write it as 4096, 0x1000, 4K, 4KiB or 1.5M)"
        );
    }

    proptest::proptest! {
        #[test]
        fn plain_and_hex_numbers_round_trip(n: u64) {
            proptest::prop_assert_eq!(parse_size(&n.to_string()), Ok(n));
            proptest::prop_assert_eq!(parse_size(&format!("{n:#x}")), Ok(n));
        }

        #[test]
        fn kib_multiples_round_trip(n in 0u64..(1 << 40)) {
            proptest::prop_assert_eq!(parse_size(&format!("{n}K")), Ok(n * 1024));
            proptest::prop_assert_eq!(parse_size(&format!("{n}KiB")), Ok(n * 1024));
        }
    }
}
