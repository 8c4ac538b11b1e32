//! Durations as rule files write them (`90s`, `5m`, `1h30m`, `30d`, `500ms`)
//! and as outputs show them.

/// Milliseconds of a duration written as one or more `<integer><unit>`
/// terms, units `ms`, `s`, `m`, `h`, `d`, `w` (`1h30m`); `0` alone is zero.
pub(crate) fn parse_ms(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let bad =
        |why: &str| format!("bad duration {s:?}: {why} (write e.g. 30s, 5m, 1h30m, 30d, 500ms)");
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected a number"));
        }
        let (num, tail) = rest.split_at(digits);
        let n: u64 = num.parse().map_err(|_| bad("number too large"))?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let ms_per = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => return Err(bad("a number needs a unit")),
            _ => return Err(bad(&format!("unknown unit {unit:?}"))),
        };
        total = n
            .checked_mul(ms_per)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too long"))?;
        rest = tail;
    }
    Ok(total)
}

/// Whole seconds of a duration; a fraction of a second is an error.
pub(crate) fn parse_s(text: &str) -> Result<u64, String> {
    let ms = parse_ms(text)?;
    if ms % 1000 != 0 {
        return Err(format!("bad duration {:?}: must be whole seconds", text.trim()));
    }
    Ok(ms / 1000)
}

/// The shortest form of whole seconds in the units above (`5m`, `1h30m`, `0s`).
pub(crate) fn fmt_s(mut s: u64) -> String {
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= len {
            out += &(s / len).to_string();
            out += unit;
            s %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_ms("500ms"), Ok(500));
        assert_eq!(parse_s("5m"), Ok(300));
        assert_eq!(parse_s("1h30m"), Ok(5_400));
        assert_eq!(parse_s("30d"), Ok(2_592_000));
        assert_eq!(parse_s("0"), Ok(0));
        for bad in ["", "5", "5 m", "m", "5x", "1.5h", "-5m", "99999999999999999999s"] {
            assert!(parse_ms(bad).is_err(), "{bad}");
        }
        assert!(parse_s("1500ms").is_err());
        assert_eq!(fmt_s(5_400), "1h30m");
        assert_eq!(fmt_s(259_200), "3d");
        assert_eq!(fmt_s(0), "0s");
        for s in [1, 59, 60, 61, 3_599, 86_401, 700_000] {
            assert_eq!(parse_s(&fmt_s(s)), Ok(s));
        }
    }
}
