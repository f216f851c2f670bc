//! Dates as IAM condition operators read them: epoch seconds or W3C ISO 8601.

/// A date as nanoseconds since the Unix epoch: epoch seconds (`1735689600`, `1735689600.5`) or a
/// W3C ISO 8601 form: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.fraction]]` with
/// `Z`, `±hh:mm` or `±hhmm` (UTC when no offset is given).
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') && !s[1..].contains('-') {
        // Epoch seconds, possibly negative or fractional; a four-digit year is also all digits,
        // and AWS reads such a value as epoch seconds too.
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.contains('.') || int.is_empty() || int == "-" || frac.len() > 9 {
            return None;
        }
        let negative = int.starts_with('-');
        let secs: i128 = int.trim_start_matches('-').parse().ok()?;
        let mut nanos: i128 = 0;
        if !frac.is_empty() {
            nanos = frac.parse::<i128>().ok()? * 10i128.pow(9 - frac.len() as u32);
        }
        // Seconds beyond i128's nanoseconds are no date (they would wrap or panic).
        let total = secs.checked_mul(1_000_000_000)?.checked_add(nanos)?;
        return Some(if negative { -total } else { total });
    }
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let year = num(0, 4)?;
    let (mut month, mut day, mut hour, mut minute, mut second, mut nanos) = (1, 1, 0, 0, 0, 0i128);
    let mut i = 4;
    if b.get(i) == Some(&b'-') {
        month = num(i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'-') {
            day = num(i + 1, 2)?;
            i += 3;
            if matches!(b.get(i), Some(b'T' | b't')) {
                hour = num(i + 1, 2)?;
                if b.get(i + 3) != Some(&b':') {
                    return None;
                }
                minute = num(i + 4, 2)?;
                i += 6;
                if b.get(i) == Some(&b':') {
                    second = num(i + 1, 2)?;
                    i += 3;
                    if b.get(i) == Some(&b'.') {
                        let start = i + 1;
                        let mut end = start;
                        while b.get(end).is_some_and(u8::is_ascii_digit) {
                            end += 1;
                        }
                        if end == start {
                            return None;
                        }
                        let digits = &s[start..end.min(start + 9)];
                        nanos = digits.parse::<i128>().ok()? * 10i128.pow(9 - digits.len() as u32);
                        i = end;
                    }
                }
            }
        }
    }
    let offset_minutes: i64 = match &s[i..] {
        "" | "Z" | "z" => 0,
        tz => {
            let sign = match tz.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = tz[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) || tz.len() > 6 {
                return None;
            }
            let (h, m): (i64, i64) = (digits[..2].parse().ok()?, digits[2..].parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
