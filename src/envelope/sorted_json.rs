//! JSON written with object keys sorted at every level and numbers exactly as they were received.

use serde_json::Value;

#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// No whitespace: the canonical text that content hashes are computed over.
    Compact,
    /// `", "` and `": "`, as Python's `json.dumps` writes by default.
    Python,
}

pub fn write(value: &Value, style: Style, out: &mut String) {
    let (item_separator, key_separator) = match style {
        Style::Compact => (",", ":"),
        Style::Python => (", ", ": "),
    };
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                write(item, style, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                push_string(key, out);
                out.push_str(key_separator);
                write(item, style, out);
            }
            out.push('}');
        }
        Value::String(s) => push_string(s, out),
        // With serde_json's `arbitrary_precision`, numbers print exactly as they were written.
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn push_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("strings always serialize"));
}
