//! The pieces of the SigV4 canonical request and the signing-key chain, kept free of policy.

use aws_lc_rs::{digest, hmac};
use subtle::ConstantTimeEq;
use time::{Date, Month, OffsetDateTime};

/// RFC 3986 unreserved characters; everything else is percent-encoded with upper-case hex.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

pub(super) fn uri_encode(bytes: &[u8], keep_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Percent-decodes; a `%` not followed by two hex digits stays as it is. `+` is not a space here.
pub(super) fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Removes empty and `.` segments and resolves `..`, keeping a leading and a trailing slash, as
/// botocore's `remove_dot_segments` and the other SDKs do for every service but S3.
pub(super) fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let lead = if path.starts_with('/') { "/" } else { "" };
    let trail = if path.ends_with('/') && !segments.is_empty() { "/" } else { "" };
    format!("{lead}{}{trail}", segments.join("/"))
}

/// The canonical URI. The path arrives percent-encoded once (as on the wire) and is encoded
/// again here, so `%20` becomes `%2520`: SDKs sign the encoding of the already-encoded path.
pub(super) fn canonical_uri(raw_path: &str) -> String {
    let normalized = normalize_path(raw_path);
    let mut out = String::with_capacity(normalized.len() + 8);
    uri_encode(normalized.as_bytes(), true, &mut out);
    out
}

/// Raw query parameters, each name and value percent-decoded, in the order received.
pub(super) fn decode_query(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// Sorted by encoded name then encoded value; `skip` names a parameter left out (the presigned
/// form's `X-Amz-Signature`).
pub(super) fn canonical_query(params: &[(Vec<u8>, Vec<u8>)], skip: Option<&str>) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| skip.is_none_or(|s| name.as_slice() != s.as_bytes()))
        .map(|(name, value)| {
            let (mut n, mut v) = (String::new(), String::new());
            uri_encode(name, false, &mut n);
            uri_encode(value, false, &mut v);
            (n, v)
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (name, value)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Whitespace as Python's `str.split()` sees it in header values, which is what botocore trims.
fn is_header_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Trims and collapses inner runs of whitespace to one space (the spec's Trimall).
pub(super) fn trim_all(value: &str, out: &mut String) {
    for (i, word) in value.split(is_header_space).filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// All values of a header (name compared case-insensitively), in the order received.
pub(super) fn header_values<'h>(headers: &'h [(String, String)], name: &'h str) -> impl Iterator<Item = &'h str> {
    headers.iter().filter(move |(n, _)| n.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// A header's values trimmed and joined by commas, as they enter the canonical headers.
pub(super) fn joined_header(headers: &[(String, String)], name: &str) -> Option<String> {
    let mut joined: Option<String> = None;
    for value in header_values(headers, name) {
        if let Some(s) = joined.as_mut() {
            s.push(',');
        }
        trim_all(value, joined.get_or_insert_with(String::new));
    }
    joined
}

pub(super) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Lowercase hex SHA-256: the payload hash and the hashed canonical request.
pub(super) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data).as_ref())
}

/// Equal-length byte comparison whose time does not depend on where the inputs differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
pub(super) fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret_access_key}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, d| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

fn unix_seconds(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<i64> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let dt = date.with_hms(u8::try_from(hour).ok()?, u8::try_from(minute).ok()?, u8::try_from(second).ok()?).ok()?;
    Some(dt.assume_utc().unix_timestamp())
}

/// `YYYYMMDD'T'HHMMSS'Z'`, the only form X-Amz-Date takes.
pub(super) fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    unix_seconds(
        digits(&b[0..4])?,
        digits(&b[4..6])?,
        digits(&b[6..8])?,
        digits(&b[9..11])?,
        digits(&b[11..13])?,
        digits(&b[13..15])?,
    )
}

/// An RFC 7231 / RFC 2822 date, `Sun, 06 Nov 1994 08:49:37 GMT` or with a numeric zone
/// (botocore sends `-0000`). The weekday is not checked: the AWS test suite's own is wrong.
pub(super) fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let rest = match s.split_once(',') {
        Some((weekday, rest)) if weekday.len() == 3 && weekday.bytes().all(|b| b.is_ascii_alphabetic()) => rest,
        Some(_) => return None,
        None => s,
    };
    let mut parts = rest.split_ascii_whitespace();
    let day = digits(parts.next()?.as_bytes())?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = parts.next()?;
    if year.len() != 4 {
        return None;
    }
    let year = digits(year.as_bytes())?;
    let hms = parts.next()?.as_bytes();
    if hms.len() != 8 || hms[2] != b':' || hms[5] != b':' {
        return None;
    }
    let (hour, minute, second) = (digits(&hms[0..2])?, digits(&hms[3..5])?, digits(&hms[6..8])?);
    let offset = match parts.next()? {
        "GMT" | "UTC" | "UT" | "Z" => 0,
        zone => {
            let z = zone.as_bytes();
            if z.len() != 5 || !matches!(z[0], b'+' | b'-') {
                return None;
            }
            let minutes = i64::from(digits(&z[1..3])? * 60 + digits(&z[3..5])?);
            if z[0] == b'-' {
                -minutes * 60
            } else {
                minutes * 60
            }
        }
    };
    if parts.next().is_some() {
        return None;
    }
    Some(unix_seconds(year, month, day, hour, minute, second)? - offset)
}

/// Unix seconds as `YYYYMMDD'T'HHMMSS'Z'`.
pub(super) fn format_amz_date(unix: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}
