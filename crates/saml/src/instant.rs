//! xs:dateTime as SAML writes it (UTC, `Z`, optional fractional seconds) ↔ Unix seconds.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{clip, Check, Rejection};

/// Parses an instant; fractions of a second are dropped (checks are in whole seconds).
pub fn parse(value: &str, what: &str) -> Result<i64, Rejection> {
    OffsetDateTime::parse(value.trim(), &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| Rejection::new(Check::Malformed, format!("{what} {} is not an xs:dateTime", clip(value))))
}

pub fn format(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
