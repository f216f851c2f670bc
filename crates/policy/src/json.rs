//! A small JSON reader that keeps where each value and each object key starts, so a policy that is
//! valid JSON but not a valid policy can be refused with the line and column of the offending part.
//!
//! Syntax is checked first by serde_json (its message and position are what a syntax error
//! reports); this reader then walks the same text, and refuses duplicate object keys, which
//! serde_json would silently resolve to the last one.

use std::fmt;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Null,
    Bool(bool),
    /// The number exactly as written.
    Number(String),
    Str(String),
    Array(Vec<Node>),
    Object(Vec<Member>),
}

#[derive(Debug, Clone)]
pub struct Member {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Kind {
    /// What a policy author would call this kind of value, for error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }
}

/// A syntax or structure error, with the position it was found at.
#[derive(Debug, Clone)]
pub struct JsonError {
    pub pos: Pos,
    pub reason: String,
}

/// Parses `text`: serde_json judges the syntax, then the positioned tree is built.
pub fn parse(text: &str) -> Result<Node, JsonError> {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        let reason = e.to_string();
        // serde_json appends " at line L column C"; the position is reported separately.
        let reason = match reason.rfind(" at line ") {
            Some(i) => reason[..i].to_string(),
            None => reason,
        };
        return Err(JsonError {
            pos: Pos { line: e.line().max(1), column: e.column().max(1) },
            reason: format!("not valid JSON: {reason}"),
        });
    }
    let mut reader = Reader { text, bytes: text.as_bytes(), i: 0, line: 1, line_start: 0 };
    reader.skip_ws();
    let node = reader.value()?;
    Ok(node)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    i: usize,
    line: usize,
    line_start: usize,
}

impl Reader<'_> {
    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.text[self.line_start..self.i].chars().count() + 1 }
    }

    fn error<T>(&self, reason: &str) -> Result<T, JsonError> {
        Err(JsonError { pos: self.pos(), reason: format!("not valid JSON: {reason}") })
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.i) {
            match b {
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), JsonError> {
        if self.bytes.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            self.error(&format!("expected `{}`", b as char))
        }
    }

    fn value(&mut self) -> Result<Node, JsonError> {
        let pos = self.pos();
        let kind = match self.bytes.get(self.i) {
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => Kind::Str(self.string()?),
            Some(b't') => self.word("true", Kind::Bool(true))?,
            Some(b'f') => self.word("false", Kind::Bool(false))?,
            Some(b'n') => self.word("null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => return self.error("expected a value"),
        };
        Ok(Node { pos, kind })
    }

    fn word(&mut self, word: &str, kind: Kind) -> Result<Kind, JsonError> {
        if self.text[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(kind)
        } else {
            self.error("expected a value")
        }
    }

    fn number(&mut self) -> Kind {
        let start = self.i;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.bytes.get(self.i) {
            self.i += 1;
        }
        Kind::Number(self.text[start..self.i].to_string())
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&b) = self.bytes.get(self.i) {
                if b == b'"' || b == b'\\' {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.text[start..self.i]);
            match self.bytes.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let esc = self.bytes.get(self.i).copied();
                    self.i += 1;
                    match esc {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if !self.text[self.i..].starts_with("\\u") {
                                    return self.error("lone surrogate in string");
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF))
                            } else {
                                char::from_u32(hi)
                            };
                            match c {
                                Some(c) => out.push(c),
                                None => return self.error("invalid \\u escape"),
                            }
                        }
                        _ => return self.error("invalid escape"),
                    }
                }
                _ => return self.error("unterminated string"),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(digits) = self.text.get(self.i..self.i + 4) else {
            return self.error("invalid \\u escape");
        };
        match u32::from_str_radix(digits, 16) {
            Ok(v) => {
                self.i += 4;
                Ok(v)
            }
            Err(_) => self.error("invalid \\u escape"),
        }
    }

    fn array(&mut self) -> Result<Kind, JsonError> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Kind::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            match self.bytes.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Kind::Array(items));
                }
                _ => return self.error("expected `,` or `]`"),
            }
        }
    }

    fn object(&mut self) -> Result<Kind, JsonError> {
        self.expect(b'{')?;
        let mut members: Vec<Member> = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Kind::Object(members));
        }
        loop {
            self.skip_ws();
            let key_pos = self.pos();
            let key = self.string()?;
            if members.iter().any(|m| m.key == key) {
                return Err(JsonError { pos: key_pos, reason: format!("duplicate key \"{key}\"") });
            }
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            let value = self.value()?;
            members.push(Member { key, key_pos, value });
            self.skip_ws();
            match self.bytes.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Kind::Object(members));
                }
                _ => return self.error("expected `,` or `}`"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_values_and_keys() {
        let text = "{\n  \"a\": [1, \"x\"],\n  \"bé\": {\"c\": true}\n}";
        let node = parse(text).unwrap();
        let Kind::Object(members) = &node.kind else { panic!() };
        assert_eq!(node.pos, Pos { line: 1, column: 1 });
        assert_eq!(members[0].key_pos, Pos { line: 2, column: 3 });
        assert_eq!(members[0].value.pos, Pos { line: 2, column: 8 });
        let Kind::Array(items) = &members[0].value.kind else { panic!() };
        assert_eq!(items[1].pos, Pos { line: 2, column: 12 });
        assert_eq!(members[1].key, "bé");
        let Kind::Object(inner) = &members[1].value.kind else { panic!() };
        // Columns count characters: "bé" is one column shorter than its byte length.
        assert_eq!(inner[0].key_pos, Pos { line: 3, column: 10 });
    }

    #[test]
    fn escapes_are_decoded() {
        let node = parse(r#""a\"b\\c\/\n\u00e9\ud83d\ude00""#).unwrap();
        let Kind::Str(s) = node.kind else { panic!() };
        assert_eq!(s, "a\"b\\c/\né😀");
    }

    #[test]
    fn syntax_errors_come_from_serde_json_with_position() {
        let err = parse("{\n  \"a\": 1,\n}").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert!(err.reason.starts_with("not valid JSON: "), "{}", err.reason);
        let err = parse("{\"a\": [1,]}").unwrap_err();
        assert_eq!(err.reason, "not valid JSON: trailing comma");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("{\"a\": 1,\n \"a\": 2}").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, column: 2 });
        assert_eq!(err.reason, "duplicate key \"a\"");
    }

    #[test]
    fn numbers_keep_their_text() {
        let node = parse("[-1.50e3, 0]").unwrap();
        let Kind::Array(items) = node.kind else { panic!() };
        assert!(matches!(&items[0].kind, Kind::Number(n) if n == "-1.50e3"));
    }
}
