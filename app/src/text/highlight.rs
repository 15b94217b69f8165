//! Detects JSON, YAML and TOML values and splits them into tokens for highlighting.
//!
//! All of this is display heuristics: nothing panics on any input, and [`tokens`] always
//! covers its input exactly. Detection is conservative and falls back to [`Format::Text`].
//! A lone JSON scalar (`42`, `"x"`, `true`) is treated as Text: only objects and arrays
//! are detected as JSON.

/// A detected text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    Toml,
    Text,
}

impl Format {
    /// Display name: "JSON", "YAML", "TOML" or "text".
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
            Format::Toml => "TOML",
            Format::Text => "text",
        }
    }
}

/// Kind of a highlighted span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Plain,
    Key,
    Str,
    Num,
    Bool,
    Null,
    Punct,
    Comment,
    Section,
}

impl Tok {
    /// CSS class of the span: "" for `Plain`, otherwise "tok-key", "tok-str", etc.
    pub fn class(self) -> &'static str {
        match self {
            Tok::Plain => "",
            Tok::Key => "tok-key",
            Tok::Str => "tok-str",
            Tok::Num => "tok-num",
            Tok::Bool => "tok-bool",
            Tok::Null => "tok-null",
            Tok::Punct => "tok-punct",
            Tok::Comment => "tok-comment",
            Tok::Section => "tok-section",
        }
    }
}

/// Deepest JSON nesting accepted, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 256;

/// Guesses the format of `text`.
///
/// JSON: a valid object or array. TOML: at least half of the significant (non-blank,
/// non-comment) lines outside multi-line strings and arrays are `[section]` headers or
/// `key = value` with a TOML-looking value, and none of them looks like YAML's
/// `key: value`. YAML: starts with `---`, or every unindented significant line is
/// `key: value` / `key:` / `- item` (`host:port` and URLs are not keys). Otherwise Text.
pub fn detect(text: &str) -> Format {
    let t = text.trim();
    if t.is_empty() {
        return Format::Text;
    }
    if (t.starts_with('{') || t.starts_with('[')) && json_pretty(t).is_some() {
        return Format::Json;
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim_start().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let is_item = |l: &str| l == "-" || l.starts_with("- ");
    if looks_toml(&lines) {
        return Format::Toml;
    }
    if t.lines()
        .next()
        .is_some_and(|l| l.trim_end() == "---" || l.starts_with("--- "))
    {
        return Format::Yaml;
    }
    let yaml_keys = lines
        .iter()
        .filter(|l| yaml_key(strip_items(l.trim_start())).is_some())
        .count();
    let top_level_ok = lines
        .iter()
        .filter(|l| !l.starts_with([' ', '\t']))
        .all(|l| is_item(l) || yaml_key(l).is_some());
    let any_item = lines.iter().any(|l| is_item(l.trim_start()));
    if top_level_ok && (yaml_keys > 0 || any_item) {
        return Format::Yaml;
    }
    Format::Text
}

/// JSON is re-indented with 2 spaces when it parses as JSON (strings, numbers and key
/// order kept exactly); otherwise, and for other formats, `text` is returned as is.
pub fn pretty(format: Format, text: &str) -> String {
    match format {
        Format::Json => json_pretty(text.trim()).unwrap_or_else(|| text.to_string()),
        _ => text.to_string(),
    }
}

/// Spans covering the whole text, in order, adjacent spans of the same `Tok` merged.
pub fn tokens(format: Format, text: &str) -> Vec<(Tok, String)> {
    let mut out = Vec::new();
    match format {
        Format::Json => {
            lex(text, &mut out, false);
        }
        Format::Yaml => yaml_tokens(text, &mut out),
        Format::Toml => toml_tokens(text, &mut out),
        Format::Text => push(&mut out, Tok::Plain, text),
    }
    out
}

// ---------------------------------------------------------------- shared helpers

type Spans = Vec<(Tok, String)>;

fn push(out: &mut Spans, tok: Tok, s: &str) {
    if s.is_empty() {
        return;
    }
    match out.last_mut() {
        Some((t, text)) if *t == tok => text.push_str(s),
        _ => out.push((tok, s.to_string())),
    }
}

/// Splits at byte `n`; if `n` is not a char boundary, everything goes left.
fn split(s: &str, n: usize) -> (&str, &str) {
    s.split_at_checked(n).unwrap_or((s, ""))
}

/// Byte length of the leading run of chars matching `f`.
fn run_len(s: &str, f: impl Fn(char) -> bool) -> usize {
    s.char_indices().find(|&(_, c)| !f(c)).map_or(s.len(), |(i, _)| i)
}

/// Length of the quoted string opening `s`, closing quote included; an unterminated
/// string runs to the end of the line (or text).
fn quoted_len(s: &str, quote: char, escapes: bool) -> usize {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if c == '\n' {
            return i;
        } else if escaped {
            escaped = false;
        } else if escapes && c == '\\' {
            escaped = true;
        } else if c == quote {
            return i + c.len_utf8();
        }
    }
    s.len()
}

/// Splits a line from `split_inclusive('\n')` into its body and `\n` / `\r\n` ending.
fn split_eol(line: &str) -> (&str, &str) {
    let body = line
        .strip_suffix('\n')
        .map_or(line, |b| b.strip_suffix('\r').unwrap_or(b));
    split(line, body.len())
}

/// Spans for a leading run of whitespace, returning the rest.
fn push_ws<'a>(out: &mut Spans, s: &'a str) -> &'a str {
    let (ws, rest) = split(s, run_len(s, char::is_whitespace));
    push(out, Tok::Plain, ws);
    rest
}

fn is_num(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if let Some(hex) = s.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
    }
    let (mantissa, exp) = s.split_once(['e', 'E']).map_or((s, None), |(m, e)| (m, Some(e)));
    let (int, frac) = mantissa.split_once('.').map_or((mantissa, None), |(i, f)| (i, Some(f)));
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit() || c == '_');
    let has_digit = mantissa.chars().any(|c| c.is_ascii_digit());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    has_digit && digits(int) && frac.is_none_or(digits) && exp_ok
}

// ---------------------------------------------------------------- JSON

/// Validates `t` as one JSON value and returns it re-indented, or `None`.
fn json_pretty(t: &str) -> Option<String> {
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

// ---------------------------------------------------------------- YAML

/// Strips leading `- ` list markers (and the spaces after them).
fn strip_items(mut s: &str) -> &str {
    while let Some(r) = s.strip_prefix("- ") {
        s = r.trim_start();
    }
    s
}

/// Byte index of the `:` ending a YAML mapping key at the start of `s`, if any.
fn yaml_key(s: &str) -> Option<usize> {
    let colon_ok = |i: usize| {
        s.get(i + 1..)
            .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r', '\n']))
    };
    if let Some(q) = s.chars().next().filter(|&c| c == '"' || c == '\'') {
        let n = quoted_len(s, q, q == '"');
        let closed = n >= 2 && s.get(..n).is_some_and(|k| k.ends_with(q));
        let i = n + s.get(n..)?.len() - s.get(n..)?.trim_start_matches(' ').len();
        return (closed && s.get(i..)?.starts_with(':') && colon_ok(i)).then_some(i);
    }
    let i = s.char_indices().find(|&(i, c)| c == ':' && colon_ok(i))?.0;
    let key = s.get(..i)?;
    let bad_start = key.starts_with(['#', '{', '[', '&', '*', '!', '|', '>', '%', '@', '`', ' ', '\t', '-']);
    let bad = key.contains(['"', '\'', '{', '}', '[', ']', ',', '=']) || key.contains(" #");
    (!key.trim().is_empty() && !bad_start && !bad).then_some(i)
}

fn yaml_tokens(text: &str, out: &mut Spans) {
    for line in text.split_inclusive('\n') {
        let (body, eol) = split_eol(line);
        let mut rest = push_ws(out, body);
        if rest == "---" || rest == "..." || rest.starts_with("--- ") {
            let (marker, tail) = split(rest, 3);
            push(out, Tok::Punct, marker);
            rest = tail;
        } else {
            while rest == "-" || rest.starts_with("- ") {
                let (marker, tail) = split(rest, 1);
                push(out, Tok::Punct, marker);
                rest = push_ws(out, tail);
            }
            if let Some(i) = yaml_key(rest) {
                let (key, tail) = split(rest, i);
                let (colon, tail) = split(tail, 1);
                push(out, Tok::Key, key);
                push(out, Tok::Punct, colon);
                rest = tail;
            }
        }
        yaml_value(rest, out);
        push(out, Tok::Plain, eol);
    }
}

fn yaml_value(s: &str, out: &mut Spans) {
    let mut rest = push_ws(out, s);
    if let Some(q) = rest.chars().next().filter(|&c| c == '"' || c == '\'') {
        let (quoted, tail) = split(rest, quoted_len(rest, q, q == '"'));
        push(out, Tok::Str, quoted);
        rest = push_ws(out, tail);
    } else if !rest.starts_with('#') {
        let end = rest.find(" #").unwrap_or(rest.len());
        let (scalar, tail) = split(rest, end);
        let word = scalar.trim_end();
        let tok = if ["true", "false", "yes", "no"]
            .iter()
            .any(|w| word.eq_ignore_ascii_case(w))
        {
            Tok::Bool
        } else if word == "~" || word.eq_ignore_ascii_case("null") {
            Tok::Null
        } else if is_num(word) {
            Tok::Num
        } else {
            Tok::Plain
        };
        let (word, ws) = split(scalar, word.len());
        push(out, tok, word);
        push(out, Tok::Plain, ws);
        rest = push_ws(out, tail);
    }
    let tok = if rest.starts_with('#') {
        Tok::Comment
    } else {
        Tok::Plain
    };
    push(out, tok, rest);
}

// ---------------------------------------------------------------- TOML

/// Whether `k` is a TOML key: bare (`A-Za-z0-9_-`) or quoted parts joined by dots.
fn toml_key_ok(k: &str) -> bool {
    let mut rest = k.trim();
    let (mut after_part, mut gap) = (false, false);
    while let Some(c) = rest.chars().next() {
        let n = match c {
            ' ' | '\t' => {
                gap = after_part;
                1
            }
            '.' if after_part => {
                (after_part, gap) = (false, false);
                1
            }
            '"' | '\'' if !after_part => {
                let n = quoted_len(rest, c, c == '"');
                if n < 2 || !rest.get(..n).is_some_and(|q| q.ends_with(c)) {
                    return false;
                }
                after_part = true;
                n
            }
            c if (c.is_ascii_alphanumeric() || c == '_' || c == '-') && !gap => {
                after_part = true;
                1
            }
            _ => return false,
        };
        rest = rest.get(n..).unwrap_or_default();
    }
    after_part
}

/// Length of a `[table]` / `[[array]]` header at the start of `s` (optionally followed
/// by a comment only).
fn toml_header(s: &str) -> Option<usize> {
    let (open, close) = if s.starts_with("[[") { ("[[", "]]") } else { ("[", "]") };
    let inner = s.strip_prefix(open)?;
    let end = inner.find(close)?;
    let after = inner.get(end + close.len()..)?.trim();
    let ok = toml_key_ok(inner.get(..end)?) && (after.is_empty() || after.starts_with('#'));
    ok.then_some(open.len() + end + close.len())
}

/// Byte index of the `=` after a TOML key at the start of `s`.
fn toml_key(s: &str) -> Option<usize> {
    let eq = s.find('=')?;
    toml_key_ok(s.get(..eq)?).then_some(eq)
}

/// The value of a `key = value` line whose value starts like a TOML value (so
/// `FOO=bar` is not TOML).
fn toml_pair(line: &str) -> Option<&str> {
    let value = line.get(toml_key(line)? + 1..)?.trim_start();
    let starts = ["\"", "'", "[", "{", "+", "-", "true", "false", "inf", "nan"];
    let ok = value.starts_with(|c: char| c.is_ascii_digit()) || starts.iter().any(|p| value.starts_with(p));
    ok.then_some(value)
}

/// TOML rule of [`detect`], on significant lines; continuation lines of multi-line
/// strings and arrays are skipped.
fn looks_toml(lines: &[&str]) -> bool {
    let (mut toml, mut counted, mut depth) = (0usize, 0usize, 0i64);
    let mut open: Option<&str> = None; // delimiter of an open multi-line string
    let brackets = |s: &str| s.matches('[').count() as i64 - s.matches(']').count() as i64;
    for line in lines.iter().map(|l| l.trim_start()) {
        if let Some(delim) = open {
            open = open.filter(|_| !line.contains(delim));
            continue;
        }
        if depth > 0 {
            depth += brackets(line);
            continue;
        }
        counted += 1;
        if toml_header(line).is_some() {
            toml += 1;
        } else if let Some(value) = toml_pair(line) {
            toml += 1;
            open = ["\"\"\"", "'''"]
                .into_iter()
                .find(|d| value.matches(d).count() % 2 == 1);
            depth = if open.is_none() { brackets(value) } else { 0 };
        } else if yaml_key(strip_items(line)).is_some() {
            return false;
        }
    }
    toml > 0 && toml * 2 >= counted
}

fn toml_tokens(text: &str, out: &mut Spans) {
    let mut multi: Option<&'static str> = None; // open multi-line string delimiter
    for line in text.split_inclusive('\n') {
        let (body, eol) = split_eol(line);
        let mut rest = body;
        if let Some(delim) = multi {
            let Some(i) = rest.find(delim) else {
                push(out, Tok::Str, rest);
                push(out, Tok::Plain, eol);
                continue;
            };
            let (s, tail) = split(rest, i + delim.len());
            push(out, Tok::Str, s);
            rest = tail;
        } else {
            rest = push_ws(out, rest);
            if let Some(n) = toml_header(rest) {
                let (header, tail) = split(rest, n);
                push(out, Tok::Section, header);
                rest = tail;
            } else if let Some(eq) = toml_key(rest) {
                let (key, tail) = split(rest, eq);
                let (name, ws) = split(key, key.trim_end().len());
                push(out, Tok::Key, name);
                push(out, Tok::Plain, ws);
                let (eq, tail) = split(tail, 1);
                push(out, Tok::Punct, eq);
                rest = tail;
            }
        }
        multi = lex(rest, out, true);
        push(out, Tok::Plain, eol);
    }
}

/// Tokenises JSON, or with `toml` the rest of a TOML line; returns the delimiter of a
/// TOML multi-line string left open at the end of the line.
fn lex(s: &str, out: &mut Spans, toml: bool) -> Option<&'static str> {
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
    use super::*;
    use Format::{Json, Text, Toml, Yaml};

    const FORMATS: [Format; 4] = [Json, Yaml, Toml, Text];

    /// Checks the spans cover `text` exactly, are non-empty and merged.
    fn assert_covers(format: Format, text: &str) {
        let spans = tokens(format, text);
        let joined: String = spans.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(joined, text, "{format:?}");
        assert!(spans.iter().all(|(_, s)| !s.is_empty()));
        assert!(spans
            .windows(2)
            .all(|w| w.first().map(|a| a.0) != w.get(1).map(|b| b.0)));
    }

    /// The non-plain spans as `class(text)`, e.g. `key(a) punct(:) num(1)`.
    fn show(format: Format, text: &str) -> String {
        let spans = tokens(format, text).into_iter().filter(|(t, _)| *t != Tok::Plain);
        let spans = spans.map(|(t, s)| format!("{}({s})", t.class().trim_start_matches("tok-")));
        spans.collect::<Vec<_>>().join(" ")
    }

    /// Detects each of the ` | `-separated texts.
    fn detect_all(texts: &str) -> Vec<Format> {
        texts.split(" | ").map(detect).collect()
    }

    #[test]
    fn names() {
        assert_eq!(FORMATS.map(Format::as_str), ["JSON", "YAML", "TOML", "text"]);
        assert_eq!(
            [Tok::Plain, Tok::Key, Tok::Section].map(Tok::class),
            ["", "tok-key", "tok-section"]
        );
    }

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
    fn detects_yaml() {
        let yes = "a: 1\nb:\n  - x\n  - y\n | ---\nfoo | - a\n- b | name: \"x\"  # c | url: http://x:80 | 'q k': v\r\nk2: 2\r\n";
        assert_eq!(detect_all(yes), [Yaml; 6]);
        let no = " |   \n | hello | http://x:80 | host:port | a:b\nc:d | just text\nwith lines | Note: x\nsome prose | # only: comment";
        assert_eq!(detect_all(no), [Text; 9]);
    }

    #[test]
    fn detects_toml() {
        let yes = "[server]\nport = 8080 | a = 1\nb = \"x\" | [[items]]\nname = 'n' # c | t = \"\"\"\nmulti\nline: x\n\"\"\" | xs = [\n  1,\n  2,\n]\n[t.\"q\"]\n";
        assert_eq!(detect_all(yes), [Toml; 5]);
        let no = "FOO=bar | a b = 1 | x = 1\ny: 2 | x = 1\nsome\nprose\nlines | [not a header | [1, 2] | [a.] | [.a]";
        assert!(detect_all(no).iter().all(|f| *f != Toml));
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
    fn tokenises_each_format() {
        let json = show(Json, r#"{"k": ["s", -1.5, true, null]}"#);
        assert_eq!(
            json,
            r#"punct({) key("k") punct(:) punct([) str("s") punct(,) num(-1.5) punct(,) bool(true) punct(,) null(null) punct(]})"#
        );
        let yaml = show(
            Yaml,
            "--- \n# top\nkey: 'v' # x\nlist:\n  - 1.5\n  - yes\n  - ~\n  - a: b\n\"q\": http://x:80\n",
        );
        assert_eq!(
            yaml,
            r#"punct(---) comment(# top) key(key) punct(:) str('v') comment(# x) key(list) punct(:) punct(-) num(1.5) punct(-) bool(yes) punct(-) null(~) punct(-) key(a) punct(:) key("q") punct(:)"#
        );
        let toml = show(
            Toml,
            "[a.b] # t\nk = \"v\"\nn = 1_000\nok = true\ns = \"\"\"\nx = 1\n\"\"\" # end\n",
        );
        assert_eq!(
            toml,
            r#"section([a.b]) comment(# t) key(k) punct(=) str("v") key(n) punct(=) num(1_000) key(ok) punct(=) bool(true) key(s) punct(=) str(""") str(x = 1) str(""") comment(# end)"#
        );
        assert_eq!(tokens(Text, "a: 1"), [(Tok::Plain, "a: 1".to_string())]);
    }

    #[test]
    fn tokens_cover_any_input() {
        let samples = [
            "",
            "\n",
            "\r\n",
            "x",
            "{\"a\": \"unterminated\n}",
            "key: \"open\r\nnext: 'x",
            "s = \"\"\"never closed\nmore",
            "s = '''a''' 'b",
            "[[x",
            "\u{1F600}: é\u{301}\r\n- 漢字 # ü",
            "a = \"\\\"",
            "\"\\",
            "- - - -",
            "---\n...",
            "\t\tkey:\t\u{0}\u{7f}",
            "{\"k\":[1e,-,.5,tru]}",
            "ključ = 'vrijednost'\r\n[sekcija]\r\n",
            "#",
            ":\n:",
            "=",
        ];
        for text in samples {
            for f in FORMATS {
                assert_covers(f, text);
                assert!(f == Json || pretty(f, text) == text);
            }
            detect(text);
        }
        let mut seed = 0x9e37_79b9_u64;
        let alphabet: Vec<char> = "{}[]\":,'#=- \n\r\t\\eé漢🎉0.+truefalsenul~|>x".chars().collect();
        for _ in 0..3000 {
            let text: String = (0..seed % 40)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            for f in FORMATS {
                assert_covers(f, &text);
            }
            if detect(&text) == Json {
                assert_eq!(detect(&pretty(Json, &text)), Json);
            }
        }
    }

    #[test]
    fn large_input() {
        let big: String = (0..80_000).map(|i| format!("{{\"k{i}\": [\"v\", {i}]}},")).collect();
        let json = format!("[{big}null]");
        assert!(json.len() > 1_500_000);
        assert_eq!(detect(&json), Json);
        assert_covers(Json, &pretty(Json, &json));
        let yaml: String = (0..80_000).map(|i| format!("key{i}: value {i} # c\n")).collect();
        assert_eq!(detect(&yaml), Yaml);
        assert_covers(Yaml, &yaml);
    }
}
