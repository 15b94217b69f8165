//! TOML: which lines are `[section]` headers and `key = value` pairs, and
//! the lexer of TOML text (its values lexed as JSON's, with TOML's strings
//! and comments).

use super::json::lex;
use super::yaml;
use super::{push, push_ws, quoted_len, split, split_eol, Spans, Tok};

/// Whether `k` is a TOML key: bare (`A-Za-z0-9_-`) or quoted parts joined by dots.
fn key_ok(k: &str) -> bool {
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
fn header(s: &str) -> Option<usize> {
    let (open, close) = if s.starts_with("[[") { ("[[", "]]") } else { ("[", "]") };
    let inner = s.strip_prefix(open)?;
    let end = inner.find(close)?;
    let after = inner.get(end + close.len()..)?.trim();
    let ok = key_ok(inner.get(..end)?) && (after.is_empty() || after.starts_with('#'));
    ok.then_some(open.len() + end + close.len())
}

/// Byte index of the `=` after a TOML key at the start of `s`.
fn key(s: &str) -> Option<usize> {
    let eq = s.find('=')?;
    key_ok(s.get(..eq)?).then_some(eq)
}

/// The value of a `key = value` line whose value starts like a TOML value (so
/// `FOO=bar` is not TOML).
fn pair(line: &str) -> Option<&str> {
    let value = line.get(key(line)? + 1..)?.trim_start();
    let starts = ["\"", "'", "[", "{", "+", "-", "true", "false", "inf", "nan"];
    let ok = value.starts_with(|c: char| c.is_ascii_digit()) || starts.iter().any(|p| value.starts_with(p));
    ok.then_some(value)
}

/// TOML rule of [`detect`](super::detect), on significant lines; continuation lines of multi-line
/// strings and arrays are skipped.
pub(super) fn looks_toml(lines: &[&str]) -> bool {
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
        if header(line).is_some() {
            toml += 1;
        } else if let Some(value) = pair(line) {
            toml += 1;
            open = ["\"\"\"", "'''"]
                .into_iter()
                .find(|d| value.matches(d).count() % 2 == 1);
            depth = if open.is_none() { brackets(value) } else { 0 };
        } else if yaml::key(yaml::strip_items(line)).is_some() {
            return false;
        }
    }
    toml > 0 && toml * 2 >= counted
}

pub(super) fn tokens(text: &str, out: &mut Spans) {
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
            if let Some(n) = header(rest) {
                let (header, tail) = split(rest, n);
                push(out, Tok::Section, header);
                rest = tail;
            } else if let Some(eq) = key(rest) {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{detect_all, show};
    use super::super::Format;
    use Format::Toml;

    #[test]
    fn detects_toml() {
        let yes = "[server]\nport = 8080 | a = 1\nb = \"x\" | [[items]]\nname = 'n' # c | t = \"\"\"\nmulti\nline: x\n\"\"\" | xs = [\n  1,\n  2,\n]\n[t.\"q\"]\n";
        assert_eq!(detect_all(yes), [Toml; 5]);
        let no = "FOO=bar | a b = 1 | x = 1\ny: 2 | x = 1\nsome\nprose\nlines | [not a header | [1, 2] | [a.] | [.a]";
        assert!(detect_all(no).iter().all(|f| *f != Toml));
    }

    #[test]
    fn tokenises_toml() {
        let toml = show(
            Toml,
            "[a.b] # t\nk = \"v\"\nn = 1_000\nok = true\ns = \"\"\"\nx = 1\n\"\"\" # end\n",
        );
        assert_eq!(
            toml,
            r#"section([a.b]) comment(# t) key(k) punct(=) str("v") key(n) punct(=) num(1_000) key(ok) punct(=) bool(true) key(s) punct(=) str(""") str(x = 1) str(""") comment(# end)"#
        );
    }
}
