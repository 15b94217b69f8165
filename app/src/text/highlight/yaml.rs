//! YAML: which lines are `key: value`, and the lexer of YAML text.

use super::{push, push_ws, quoted_len, split, split_eol, Spans, Tok};

/// Strips leading `- ` list markers (and the spaces after them).
pub(super) fn strip_items(mut s: &str) -> &str {
    while let Some(r) = s.strip_prefix("- ") {
        s = r.trim_start();
    }
    s
}

/// Byte index of the `:` ending a YAML mapping key at the start of `s`, if any.
pub(super) fn key(s: &str) -> Option<usize> {
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

pub(super) fn tokens(text: &str, out: &mut Spans) {
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
            if let Some(i) = key(rest) {
                let (key, tail) = split(rest, i);
                let (colon, tail) = split(tail, 1);
                push(out, Tok::Key, key);
                push(out, Tok::Punct, colon);
                rest = tail;
            }
        }
        value(rest, out);
        push(out, Tok::Plain, eol);
    }
}

fn value(s: &str, out: &mut Spans) {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{detect_all, show};
    use super::super::Format;
    use Format::{Text, Yaml};

    #[test]
    fn detects_yaml() {
        let yes = "a: 1\nb:\n  - x\n  - y\n | ---\nfoo | - a\n- b | name: \"x\"  # c | url: http://x:80 | 'q k': v\r\nk2: 2\r\n";
        assert_eq!(detect_all(yes), [Yaml; 6]);
        let no = " |   \n | hello | http://x:80 | host:port | a:b\nc:d | just text\nwith lines | Note: x\nsome prose | # only: comment";
        assert_eq!(detect_all(no), [Text; 9]);
    }

    #[test]
    fn tokenises_yaml() {
        let yaml = show(
            Yaml,
            "--- \n# top\nkey: 'v' # x\nlist:\n  - 1.5\n  - yes\n  - ~\n  - a: b\n\"q\": http://x:80\n",
        );
        assert_eq!(
            yaml,
            r#"punct(---) comment(# top) key(key) punct(:) str('v') comment(# x) key(list) punct(:) punct(-) num(1.5) punct(-) bool(yes) punct(-) null(~) punct(-) key(a) punct(:) key("q") punct(:)"#
        );
    }
}
