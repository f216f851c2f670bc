//! The console's two cookies: read from `Cookie`, written as `Set-Cookie`. Both are HttpOnly
//! (the page never reads them) and Secure whenever the browser reaches the server over https (a
//! TLS listener, or an https public URL).

use axum::http::{header, HeaderMap, HeaderValue};

/// The value of cookie `name`, if the request carries it (in any `Cookie` header).
pub(crate) fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

pub(crate) struct Cookie<'a> {
    pub name: &'a str,
    pub path: &'a str,
    /// `Lax` or `Strict`.
    pub same_site: &'a str,
    /// Secure: the browser reaches the server over https.
    pub secure: bool,
}

impl Cookie<'_> {
    /// Sets the cookie to `value` for `max_age` seconds.
    pub fn set(&self, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite={}{secure}",
            self.name, self.path, self.same_site
        );
        // Values are base64url, names and paths constants: always a valid header.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Deletes it in the browser.
    pub fn clear(&self) -> HeaderValue {
        self.set("", 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; tb_x=abc"));
        h.append(header::COOKIE, HeaderValue::from_static("tb_y=\"q\""));
        assert_eq!(read(&h, "tb_x").as_deref(), Some("abc"));
        assert_eq!(read(&h, "tb_y").as_deref(), Some("q"));
        assert_eq!(read(&h, "tb"), None);
        let c = Cookie { name: "tb_x", path: "/console", same_site: "Lax", secure: true };
        assert_eq!(c.set("v", 600), "tb_x=v; Path=/console; Max-Age=600; HttpOnly; SameSite=Lax; Secure");
        assert_eq!(c.clear(), "tb_x=; Path=/console; Max-Age=0; HttpOnly; SameSite=Lax; Secure");
    }
}
