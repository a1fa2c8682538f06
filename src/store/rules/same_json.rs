//! Whether two JSON texts say the same thing: a client that sends an object again may have reformatted it
//! (other whitespace, key order, `1.0` for `1`), and that is a duplicate, not a conflict.

use serde_json::Value;

/// The same JSON value: object keys as a set, numbers by their exact decimal value, strings unescaped.
/// Text that is not JSON is the same only byte for byte.
pub(super) fn same_json(a: &[u8], b: &[u8]) -> bool {
    match (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => same_value(&a, &b),
        _ => a == b,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (exact(x.as_str()), exact(y.as_str())) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_str() == y.as_str(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same_value(x, y)))
        }
        _ => a == b,
    }
}

/// A JSON number's exact value as (negative, significant digits, power of ten), so that `1`, `1.0`, `1e0`
/// and `10E-1` come out alike, with no rounding through a float. `None` for an exponent out of range.
fn exact(number: &str) -> Option<(bool, String, i64)> {
    let (negative, unsigned) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    if significant.is_empty() {
        // Zero, whatever its sign.
        return Some((false, String::new(), 0));
    }
    let power = exponent
        .checked_sub(i64::try_from(fraction.len()).ok()?)?
        .checked_add(i64::try_from(digits.len() - significant.len()).ok()?)?;
    Some((negative, significant.to_owned(), power))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reformatted_json_is_the_same() {
        let cases = [
            (
                r#"{"a":1,"b":[1,2]}"#,
                "{ \"b\" : [ 1 , 2 ],\n  \"a\" : 1 }",
            ),
            (r#"{"n":1}"#, r#"{"n":1.0}"#),
            (r#"{"n":1}"#, r#"{"n":1e0}"#),
            (r#"{"n":1.5}"#, r#"{"n":15E-1}"#),
            (r#"{"n":100}"#, r#"{"n":1e+2}"#),
            (r#"{"n":0}"#, r#"{"n":-0.0}"#),
            (r#"{"n":-0.25}"#, r#"{"n":-2.50e-1}"#),
            (r#"{"s":"é"}"#, r#"{"s":"\u00e9"}"#),
            (
                r#"{"big":123456789012345678901234567890}"#,
                r#"{"big":1.2345678901234567890123456789e29}"#,
            ),
        ];
        for (a, b) in cases {
            assert!(same_json(a.as_bytes(), b.as_bytes()), "{a} vs {b}");
        }
    }

    #[test]
    fn other_content_is_not_the_same() {
        let cases = [
            (r#"{"a":1}"#, r#"{"a":2}"#),
            (r#"{"a":1}"#, r#"{"a":1,"b":1}"#),
            (r#"{"a":[1,2]}"#, r#"{"a":[2,1]}"#),
            (r#"{"a":1}"#, r#"{"a":"1"}"#),
            (r#"{"n":-1}"#, r#"{"n":1}"#),
            (r#"{"n":0.1}"#, r#"{"n":1}"#),
            // Equal as f64, not as numbers.
            (r#"{"n":9007199254740993}"#, r#"{"n":9007199254740992}"#),
            ("not json", "not  json"),
        ];
        for (a, b) in cases {
            assert!(!same_json(a.as_bytes(), b.as_bytes()), "{a} vs {b}");
        }
    }
}
