//! Detects JSON, YAML and TOML values and splits them into tokens for highlighting.
//!
//! All of this is display heuristics: nothing panics on any input, and [`tokens`] always
//! covers its input exactly. Detection is conservative and falls back to [`Format::Text`].
//! A lone JSON scalar (`42`, `"x"`, `true`) is treated as Text: only objects and arrays
//! are detected as JSON.
//!
//! This file holds what the formats share (the formats and token kinds,
//! detection, and the span helpers); each format's lexer has its own file:
//! [`json`] (which TOML's values reuse), [`yaml`] and [`toml`].

mod json;
mod toml;
mod yaml;

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
    if (t.starts_with('{') || t.starts_with('[')) && json::pretty(t).is_some() {
        return Format::Json;
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim_start().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let is_item = |l: &str| l == "-" || l.starts_with("- ");
    if toml::looks_toml(&lines) {
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
        .filter(|l| yaml::key(yaml::strip_items(l.trim_start())).is_some())
        .count();
    let top_level_ok = lines
        .iter()
        .filter(|l| !l.starts_with([' ', '\t']))
        .all(|l| is_item(l) || yaml::key(l).is_some());
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
        Format::Json => json::pretty(text.trim()).unwrap_or_else(|| text.to_string()),
        _ => text.to_string(),
    }
}

/// Spans covering the whole text, in order, adjacent spans of the same `Tok` merged.
pub fn tokens(format: Format, text: &str) -> Vec<(Tok, String)> {
    let mut out = Vec::new();
    match format {
        Format::Json => json::tokens(text, &mut out),
        Format::Yaml => yaml::tokens(text, &mut out),
        Format::Toml => toml::tokens(text, &mut out),
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

#[cfg(test)]
mod tests {
    //! The tests of what the formats share, and the helpers every format's
    //! tests use.
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
    pub(super) fn show(format: Format, text: &str) -> String {
        let spans = tokens(format, text).into_iter().filter(|(t, _)| *t != Tok::Plain);
        let spans = spans.map(|(t, s)| format!("{}({s})", t.class().trim_start_matches("tok-")));
        spans.collect::<Vec<_>>().join(" ")
    }

    /// Detects each of the ` | `-separated texts.
    pub(super) fn detect_all(texts: &str) -> Vec<Format> {
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
    fn tokenises_text() {
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
