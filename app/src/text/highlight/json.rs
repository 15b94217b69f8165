//! JSON: validation and re-indenting ([`pretty`]), and the lexer of JSON
//! text, which also tokenises the values of TOML lines ([`lex`]).

use super::{push, quoted_len, run_len, split, Spans, Tok};

/// Deepest JSON nesting accepted, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 256;

/// Validates `t` as one JSON value and returns it re-indented, or `None`.
pub(super) fn pretty(t: &str) -> Option<String> {
    let mut p = Json {
        s: t,
        i: 0,
        out: String::with_capacity(t.len() + t.len() / 2),
    };
    p.ws();
    p.value(0)?;
    p.ws();
    (p.i == t.len()).then_some(p.out)
}

struct Json<'a> {
    s: &'a str,
    i: usize,
    out: String,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }
    /// Copies the input from `start` to the cursor verbatim.
    fn copy(&mut self, start: usize) -> Option<()> {
        self.out.push_str(self.s.get(start..self.i)?);
        Some(())
    }
    fn newline(&mut self, depth: usize) {
        self.out.push('\n');
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.container(depth, b'}'),
            b'[' => self.container(depth, b']'),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            _ => ["true", "false", "null"].into_iter().find_map(|w| self.word(w)),
        }
    }
    fn word(&mut self, w: &str) -> Option<()> {
        self.s.get(self.i..)?.starts_with(w).then(|| {
            self.i += w.len();
            self.out.push_str(w);
        })
    }
    fn container(&mut self, depth: usize, close: u8) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        let start = self.i;
        self.i += 1;
        self.copy(start)?;
        self.ws();
        if !self.eat(close) {
            loop {
                self.newline(depth + 1);
                if close == b'}' {
                    self.string()?;
                    self.ws();
                    self.eat(b':').then_some(())?;
                    self.out.push_str(": ");
                    self.ws();
                }
                self.value(depth + 1)?;
                self.ws();
                if self.eat(close) {
                    break;
                }
                self.eat(b',').then_some(())?;
                self.out.push(',');
                self.ws();
            }
            self.newline(depth);
        }
        self.out.push(char::from(close));
        Some(())
    }
    fn string(&mut self) -> Option<()> {
        let start = self.i;
        self.eat(b'"').then_some(())?;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.s.get(self.i + 1..self.i + 5)?;
                            hex.bytes().all(|c| c.is_ascii_hexdigit()).then_some(())?;
                            self.i += 4;
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                _ => {}
            }
            self.i += 1;
        }
        self.i += 1;
        self.copy(start)
    }
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        self.eat(b'-');
        (self.eat(b'0') || self.digits() > 0).then_some(())?;
        if self.eat(b'.') {
            (self.digits() > 0).then_some(())?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            (self.digits() > 0).then_some(())?;
        }
        self.copy(start)
    }
}

/// Spans of a JSON text.
pub(super) fn tokens(text: &str, out: &mut Spans) {
    lex(text, out, false);
}

/// Tokenises JSON, or with `toml` the rest of a TOML line; returns the delimiter of a
/// TOML multi-line string left open at the end of the line.
pub(super) fn lex(s: &str, out: &mut Spans, toml: bool) -> Option<&'static str> {
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let delim = ["\"\"\"", "'''"].into_iter().find(|d| toml && rest.starts_with(d));
        let (tok, n) = if let Some(delim) = delim {
            let Some(i) = rest.get(3..).and_then(|r| r.find(delim)) else {
                push(out, Tok::Str, rest);
                return Some(delim);
            };
            (Tok::Str, i + 6)
        } else {
            match c {
                '#' if toml => (Tok::Comment, rest.len()),
                '"' | '\'' if toml || c == '"' => {
                    let n = quoted_len(rest, c, c == '"');
                    let after = rest.get(n..).unwrap_or_default().trim_start();
                    let key = !toml && after.starts_with(':');
                    (if key { Tok::Key } else { Tok::Str }, n)
                }
                '[' | ']' | '{' | '}' | ',' | ':' | '=' => (Tok::Punct, 1),
                '+' | '-' | '0'..='9' => {
                    let n = run_len(rest, |c| c.is_ascii_alphanumeric() || "+-_.:".contains(c));
                    (Tok::Num, n)
                }
                c if c.is_alphabetic() => {
                    let n = run_len(rest, |c| c.is_alphanumeric() || c == '_' || c == '-');
                    let tok = match rest.get(..n) {
                        Some("true" | "false") => Tok::Bool,
                        Some("null") => Tok::Null,
                        Some("inf" | "nan") => Tok::Num,
                        _ => Tok::Plain,
                    };
                    (tok, n)
                }
                c if c.is_whitespace() => (Tok::Plain, run_len(rest, char::is_whitespace)),
                _ => (Tok::Plain, c.len_utf8()),
            }
        };
        let (span, tail) = split(rest, n.max(c.len_utf8()));
        push(out, tok, span);
        rest = tail;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests::{detect_all, show};
    use super::super::{detect, pretty, Format};
    use Format::{Json, Text, Toml, Yaml};

    #[test]
    fn detects_json() {
        let yes = r#"{"a":1} |  [1, 2]
 | {"a": {"b": [true, null, -1.5e3, "\u00e9\""]}} | [] | {}"#;
        assert_eq!(detect_all(yes), [Json; 5]);
        assert_eq!(detect(&format!("{}{}", "[".repeat(200), "]".repeat(200))), Json);
        let no = r#""x" | 42 | true | {a:1} | [1, 2 | [1,] | {"a" 1} | [1.] | {"a":"\x"} | ["a
b"]"#;
        assert_eq!(detect_all(no), [Text; 10]);
        assert_eq!(detect("[01]"), Toml); // a valid TOML table header
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(detect(&deep), Text);
        assert_eq!(pretty(Json, &deep), deep);
    }

    #[test]
    fn pretty_json_keeps_spelling_and_order() {
        let src = r#" {"b":1.0e+10,"a":[-0, {}, [],"é\n\"q\" \u00e9"],"c":{"x":null,"y":false}} "#;
        let want = "{\n  \"b\": 1.0e+10,\n  \"a\": [\n    -0,\n    {},\n    [],\n    \"é\\n\\\"q\\\" \\u00e9\"\n  ],\n  \"c\": {\n    \"x\": null,\n    \"y\": false\n  }\n}";
        assert_eq!(pretty(Json, src), want);
        assert_eq!(pretty(Json, want), want);
        assert_eq!(pretty(Json, "{bad"), "{bad");
        assert_eq!(pretty(Yaml, "a:  1"), "a:  1");
        assert_eq!(
            pretty(Json, "12345678901234567890.5e-400"),
            "12345678901234567890.5e-400"
        );
    }

    #[test]
    fn tokenises_json() {
        let json = show(Json, r#"{"k": ["s", -1.5, true, null]}"#);
        assert_eq!(
            json,
            r#"punct({) key("k") punct(:) punct([) str("s") punct(,) num(-1.5) punct(,) bool(true) punct(,) null(null) punct(]})"#
        );
    }
}
