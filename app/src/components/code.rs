//! Values as an operator reads them: JSON, YAML and TOML pretty-printed and
//! highlighted, other text as it is, binary values as a hex dump; and the
//! line diff of two versions.

use leptos::prelude::*;

use crate::model::Kv;
use crate::text::diff::{hunks, line_diff, LineTag};
use crate::text::highlight::{detect, pretty, tokens, Format};
use crate::text::{base64_decode, hex_dump};

/// Largest value text (bytes) shown highlighted.
const HIGHLIGHT_MAX: usize = 256 * 1024;

/// Lines of unchanged context kept around each change of a diff.
const CONTEXT: usize = 3;

/// What a value shows as: its text (pretty-printed when it is JSON) and
/// format, or a hex dump of its bytes when they are not UTF-8.
pub fn display_text(value: &str, value_base64: Option<&str>) -> (Format, String) {
    let (format, text, _) = shown(value, value_base64);
    (format, text)
}

/// [`display_text`], with a binary value's length in bytes (`None`: text).
fn shown(value: &str, value_base64: Option<&str>) -> (Format, String, Option<usize>) {
    match value_base64 {
        Some(encoded) => match base64_decode(encoded) {
            Some(bytes) => (Format::Text, hex_dump(&bytes), Some(bytes.len())),
            None => (Format::Text, value.to_owned(), Some(0)),
        },
        None => {
            let format = detect(value);
            (format, pretty(format, value), None)
        }
    }
}

/// A value, highlighted per its format.
#[component]
pub fn ValueView(#[prop(into)] value: String, #[prop(default = None)] value_base64: Option<String>) -> impl IntoView {
    let (format, text, binary) = shown(&value, value_base64.as_deref());
    let label = match binary {
        Some(len) => format!("binary, {len} bytes, hex"),
        None if value.is_empty() => "empty".to_owned(),
        None => format!("{}, {} bytes", format.as_str(), value.len()),
    };
    // A very large value is shown as plain text: a span per token would be
    // hundreds of thousands of DOM nodes.
    let spans = if text.len() > HIGHLIGHT_MAX {
        vec![(crate::text::highlight::Tok::Plain, text)]
    } else {
        tokens(format, &text)
    };
    let spans = spans
        .into_iter()
        .map(|(tok, text)| {
            let class = tok.class();
            if class.is_empty() {
                text.into_any()
            } else {
                view! { <span class=class>{text}</span> }.into_any()
            }
        })
        .collect_view();
    view! {
        <p class="value-format" data-testid="value-format">{label}</p>
        <pre class="value code" data-testid="value">{spans}</pre>
    }
}

/// The text of a key's value for diffing and editing: the value, or its hex
/// dump when it is binary.
pub fn kv_text(kv: &Kv) -> String {
    display_text(&kv.value, kv.value_base64.as_deref()).1
}

/// The line diff of `old` against `new`, changed lines with some context.
#[component]
pub fn DiffView(
    #[prop(into)] old: String,
    #[prop(into)] new: String,
    #[prop(into)] old_label: String,
    #[prop(into)] new_label: String,
) -> impl IntoView {
    let diff = line_diff(&old, &new);
    let same = diff.lines.iter().all(|l| l.tag == LineTag::Same);
    let truncated = diff.truncated;
    let rows = hunks(&diff, CONTEXT)
        .into_iter()
        .map(|line| {
            let (class, mark) = match line.tag {
                LineTag::Same => ("same", " "),
                LineTag::Removed => ("removed", "-"),
                LineTag::Added => ("added", "+"),
            };
            let number = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
            view! {
                <tr class=class>
                    <td class="ln">{number(line.old_no)}</td>
                    <td class="ln">{number(line.new_no)}</td>
                    <td class="mark">{mark}</td>
                    <td class="text">{line.text}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="diff" data-testid="diff">
            <p class="diff-legend">
                <span class="removed">{format!("- {old_label}")}</span>
                " "
                <span class="added">{format!("+ {new_label}")}</span>
            </p>
            {same.then(|| view! { <p class="muted">"The two values are the same."</p> })}
            {truncated.then(|| view! { <p class="muted">"Too many changes for a line-by-line diff: the differing part is shown as removed, then added."</p> })}
            <table class="diff-lines"><tbody>{rows}</tbody></table>
        </div>
    }
}
