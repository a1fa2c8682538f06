//! Configuration errors in an operator's words: where the mistake is written (the file's line and column, or
//! the environment variable), the key as TOML writes it, what was expected, and the nearest valid key.

use std::path::Path;

use figment::error::{Actual, Kind};
use figment::providers::Serialized;
use figment::value::Value;
use figment::{Figment, Source};

use super::ConfigError;
use super::effective::SECRET_KEYS;
use super::place::{KeyPath, Place, Spot, WrittenFile, environment_variable};
use crate::quote;

/// What reads the merged layers into settings again, and its error, if any.
pub(super) type ReadAgain<'a> = &'a dyn Fn(&Figment) -> Option<figment::Error>;

/// figment could not read `layers` into settings (with `read_again`): each of its errors told as the operator
/// wrote the configuration.
pub(super) fn not_loaded(
    error: figment::Error,
    file: Option<&Path>,
    layers: &Figment,
    read_again: ReadAgain,
) -> ConfigError {
    let written = file.and_then(WrittenFile::read);
    let lines: Vec<String> = error
        .into_iter()
        .map(|error| {
            let choices = match &error.kind {
                Kind::InvalidType(_, expected) if names_an_enum(expected) => {
                    choices_at(layers, &error.path, read_again)
                }
                _ => None,
            };
            explain(&error, choices, written.as_ref())
        })
        .collect();
    ConfigError::Reported(lines.join("\nconfiguration: "))
}

fn names_an_enum(expected: &str) -> bool {
    expected.starts_with("enum ") || expected == "variant identifier"
}

/// The names an enum accepts at `path`, where a value of another type was written: serde names only the enum's
/// type then, so the merged layers are read again with a name that no enum has (`""`) in its place, which
/// serde answers with the names.
fn choices_at(
    layers: &Figment,
    path: &[String],
    read_again: ReadAgain,
) -> Option<&'static [&'static str]> {
    let mut merged: Value = layers.extract().ok()?;
    let slot = path
        .iter()
        .try_fold(&mut merged, |value, segment| match value {
            Value::Dict(_, entries) => entries.get_mut(segment),
            Value::Array(_, items) => items.get_mut(segment.parse::<usize>().ok()?),
            _ => None,
        })?;
    *slot = Value::from("");
    let error = read_again(&Figment::from(Serialized::defaults(merged)))?;
    error.into_iter().find_map(|error| match error.kind {
        Kind::UnknownVariant(_, choices) if error.path == path => Some(choices),
        _ => None,
    })
}

/// A check after loading refused the configuration: said where the value it refuses is written, when the
/// check names its key, else naming the file.
pub(super) fn refused(error: ConfigError, file: Option<&Path>) -> ConfigError {
    let (place, message) = match error {
        ConfigError::Invalid(message) => (file.map(Place::file), message),
        ConfigError::InvalidKey { key, message } => {
            let key = KeyPath::parse(&key);
            let in_file = |path: &Path| match WrittenFile::read(path) {
                Some(written) => written.place(&key, Spot::Value, true),
                None => Place::file(path),
            };
            let place = environment_variable(&key)
                .map(Place::Environment)
                .or_else(|| file.map(in_file));
            (place, message)
        }
        reported @ ConfigError::Reported(_) => return reported,
    };
    ConfigError::Reported(match place {
        Some(place) => format!("{place}: {message}"),
        None => message,
    })
}

fn explain(
    error: &figment::Error,
    choices: Option<&[&str]>,
    written: Option<&WrittenFile>,
) -> String {
    let key = KeyPath::new(error.path.clone());
    let what = describe(&error.kind, choices, &key);
    let place = match error.metadata.as_ref().and_then(|m| m.source.as_ref()) {
        Some(Source::File(path)) => {
            let Some(file) = written.filter(|file| file.path() == path) else {
                return format!("{}: {what}", Place::file(path));
            };
            if let Some((place, message)) = file.syntax_error() {
                return format!("{place}: this is not TOML: {message}");
            }
            let spot = match error.kind {
                Kind::UnknownField(..) => Spot::Key,
                _ => Spot::Value,
            };
            Some(file.place(&key, spot, false))
        }
        Some(Source::Code(_)) => Some(Place::EmbeddedDefault),
        _ => environment_variable(&key).map(Place::Environment),
    };
    match place {
        Some(place) => format!("{place}: {what}"),
        None => what,
    }
}

/// What is wrong with `key`, without where it is written; `choices` are the names an enum there accepts.
fn describe(kind: &Kind, choices: Option<&[&str]>, key: &KeyPath) -> String {
    let secret = key
        .segments()
        .iter()
        .any(|segment| SECRET_KEYS.contains(&segment.as_str()));
    match kind {
        Kind::UnknownField(field, accepted) => match nearest(field, accepted) {
            Some(near) => format!("unknown key `{key}`; did you mean `{near}`?"),
            None if accepted.is_empty() => format!("unknown key `{key}`"),
            None => format!(
                "unknown key `{key}`; the keys here are {}",
                listed(accepted, '`')
            ),
        },
        Kind::UnknownVariant(found, choices) => {
            let message = format!(
                "`{key}` must be {}, not {}",
                one_of(choices),
                found_words(&Actual::Str(found.clone()), secret)
            );
            match nearest(found, choices) {
                Some(near) => format!("{message}; did you mean \"{near}\"?"),
                None => message,
            }
        }
        Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) => format!(
            "`{key}` must be {}, not {}",
            choices.map_or_else(|| expected_words(expected), one_of),
            found_words(found, secret)
        ),
        Kind::MissingField(field) if key.is_empty() => format!("the key `{field}` is missing"),
        Kind::MissingField(field) => format!("`{key}` needs the key `{field}`"),
        Kind::InvalidLength(length, expected) => {
            format!("`{key}` must have {expected}, not {length} entries")
        }
        other if key.is_empty() => other.to_string(),
        Kind::Message(message) => format!("`{key}`: {message}"),
        other => format!("`{key}`: {other}"),
    }
}

/// serde's name of a type, as an operator would say what belongs there.
fn expected_words(expected: &str) -> String {
    let words = match expected {
        "u64" | "usize" | "u128" => "a whole number (0 or more)",
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" | "a borrowed string" | "path string" | "a character" | "char" => {
            "a string (in quotes)"
        }
        "a sequence" | "a tuple" => "a list",
        "a map" => "a table",
        _ if expected.starts_with("struct ") => "a table",
        _ if names_an_enum(expected) => {
            "one of the names (in quotes) that the configuration reference lists"
        }
        _ => expected,
    };
    words.to_owned()
}

/// What was written, as TOML would show it; a secret's text is not repeated.
fn found_words(found: &Actual, secret: bool) -> String {
    match found {
        Actual::Str(_) | Actual::Char(_) if secret => "a string".to_owned(),
        Actual::Str(text) => quote::shown(text),
        Actual::Char(character) => format!("{character:?}"),
        Actual::Bool(value) => value.to_string(),
        Actual::Unsigned(number) => number.to_string(),
        Actual::Signed(number) => number.to_string(),
        Actual::Float(number) => format!("{number:?}"),
        Actual::Seq => "a list".to_owned(),
        Actual::Map => "a table".to_owned(),
        other => other.to_string(),
    }
}

fn one_of(choices: &[&str]) -> String {
    match choices {
        [only] => format!("\"{only}\""),
        _ => format!("one of {}", listed(choices, '"')),
    }
}

fn listed(names: &[&str], quote: char) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|name| format!("{quote}{name}{quote}"))
        .collect();
    quoted.join(", ")
}

/// The choice nearest to a mistyped word, when it is near enough to be what was meant: at most one edit in
/// three characters (at least one edit), ignoring case.
fn nearest<'a>(word: &str, choices: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    let allowed = (word.chars().count() / 3).max(1);
    choices
        .iter()
        .map(|choice| (strsim::damerau_levenshtein(&word, choice), *choice))
        .min_by_key(|(distance, _)| *distance)
        .filter(|(distance, _)| *distance <= allowed)
        .map(|(_, choice)| choice)
}

#[cfg(test)]
// figment's `Jail` fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use figment::Jail;

    /// The message `Settings::load` gives for a file `c.toml` with `text`.
    fn refusal(jail: &mut Jail, text: &str) -> String {
        jail.create_file("c.toml", text).unwrap();
        Settings::load(Some(Path::new("c.toml")))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_unknown_key_is_named_as_written_where_it_is_with_the_nearest_valid_key() {
        Jail::expect_with(|jail| {
            let collection = "[[api_roots]]\npath = \"api\"\ntitle = \"t\"\n\
                              [[api_roots.collections]]\nid = \"x\"\ntitle = \"c\"\nanonymus_read = true\n";
            assert_eq!(
                refusal(jail, collection),
                "configuration: c.toml:7:1: unknown key `api_roots[0].collections[0].anonymus_read`; \
                 did you mean `anonymous_read`?"
            );
            assert_eq!(
                refusal(jail, "[taxi]\ntitle = \"x\"\n"),
                "configuration: c.toml:1:2: unknown key `taxi`; did you mean `taxii`?"
            );
            let far = refusal(jail, "[metrics]\ncolour = \"red\"\n");
            assert_eq!(
                far,
                "configuration: c.toml:2:1: unknown key `metrics.colour`; the keys here are `public`"
            );
            Ok(())
        });
    }

    #[test]
    fn a_wrong_type_is_said_in_an_operators_words() {
        Jail::expect_with(|jail| {
            let cases = [
                (
                    "[taxii]\nmax_page_size = \"ten\"\n",
                    "c.toml:2:17: `taxii.max_page_size` must be a whole number (0 or more), not \"ten\"",
                ),
                (
                    "[taxii]\nmax_page_size = -3\n",
                    "c.toml:2:17: `taxii.max_page_size` must be a whole number (0 or more), not -3",
                ),
                (
                    "[metrics]\npublic = \"yes\"\n",
                    "c.toml:2:10: `metrics.public` must be true or false, not \"yes\"",
                ),
                (
                    "api_roots = 5\n",
                    "c.toml:1:13: `api_roots` must be a list, not 5",
                ),
                (
                    "tls = \"on\"\n",
                    "c.toml:1:7: `tls` must be a table, not \"on\"",
                ),
                (
                    "[taxii]\ntitle = 5\n",
                    "c.toml:2:9: `taxii.title` must be a string (in quotes), not 5",
                ),
                (
                    "[[peer]]\nurl = \"u\"\ndirection = \"pull\"\ninterval = 1.0\n",
                    "c.toml:4:12: `peer[0].interval` must be a whole number (0 or more), not 1.0",
                ),
                (
                    "[[api_roots]]\npath = \"api\"\n",
                    "c.toml:1:1: `api_roots[0]` needs the key `title`",
                ),
                (
                    "trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n",
                    "c.toml:1:34: `trusted_proxies[1]`: \"10.0.0.0/40\" is not an address or an address \
                     block such as 10.0.0.0/8",
                ),
                (
                    "[[users]]\nname = \"a\"\ntokens = \"the-token-itself\"\n",
                    "c.toml:3:10: `users[0].tokens` must be a list, not a string",
                ),
                (
                    "listen = \n",
                    "c.toml:1:10: this is not TOML: invalid string; expected `\"`, `'`",
                ),
            ];
            for (text, expected) in cases {
                assert_eq!(
                    refusal(jail, text),
                    format!("configuration: {expected}"),
                    "{text}"
                );
            }
            Ok(())
        });
    }

    #[test]
    fn a_value_that_is_not_one_of_the_choices_lists_them() {
        Jail::expect_with(|jail| {
            assert_eq!(
                refusal(jail, "[intake]\nmint = \"uuid5\"\n"),
                "configuration: c.toml:2:8: `intake.mint` must be one of \"uuid4\", \"cycat\", \"hash\", \
                 not \"uuid5\"; did you mean \"uuid4\"?"
            );
            assert_eq!(
                refusal(jail, "log_format = \"xml\"\n"),
                "configuration: c.toml:1:14: `log_format` must be one of \"text\", \"json\", not \"xml\""
            );
            assert_eq!(
                refusal(jail, "[intake]\nmint = 4\n"),
                "configuration: c.toml:2:8: `intake.mint` must be one of \"uuid4\", \"cycat\", \"hash\", not 4",
                "a value of another type: the names, asked of serde again"
            );
            assert_eq!(
                refusal(
                    jail,
                    "[[peer]]\nurl = \"https://b.example/\"\ndirection = true\ninterval = 60\n"
                ),
                "configuration: c.toml:3:13: `peer[0].direction` must be one of \"pull\", \"push\", \"both\", \
                 not true",
                "in an entry of a list too"
            );
            Ok(())
        });
    }

    #[test]
    fn an_environment_variable_is_named_instead_of_a_file_position() {
        Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[taxii]\ntitle = \"mine\"\n")?;
            jail.set_env("STIXGATE_TAXII__MAX_PAGE_SIZE", "ten");
            let error = Settings::load(Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                "configuration: environment variable STIXGATE_TAXII__MAX_PAGE_SIZE: \
                 `taxii.max_page_size` must be a whole number (0 or more), not \"ten\""
            );
            jail.clear_env();
            jail.set_env("STIXGATE_LISEN", "127.0.0.1:1");
            let error = Settings::load(None).unwrap_err().to_string();
            assert_eq!(
                error,
                "configuration: environment variable STIXGATE_LISEN: unknown key `lisen`; did you mean \
                 `listen`?"
            );
            jail.clear_env();
            jail.set_env("STIXGATE_BODY_TIMEOUT", "0");
            let error = Settings::load(Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                "configuration: environment variable STIXGATE_BODY_TIMEOUT: body_timeout must be at \
                 least 1 (seconds)"
            );
            Ok(())
        });
    }

    #[test]
    fn what_the_checks_after_loading_refuse_is_placed_at_its_key_or_in_its_file() {
        Jail::expect_with(|jail| {
            let peer =
                "[[peer]]\nurl = \"https://b.example/api/collections/x/\"\ndirection = \"pull\"\n";
            assert_eq!(
                refusal(
                    jail,
                    &format!("{peer}interval = 60\n{peer}name = \"b\"\ninterval = 0\n")
                ),
                "configuration: c.toml:9:12: peer \"b\": interval must be at least 1 (seconds)",
                "the second peer's interval"
            );
            assert_eq!(
                refusal(jail, "max_content_length = 0\n"),
                "configuration: c.toml:1:22: max_content_length must be greater than 0"
            );
            let error = refusal(jail, "[intake]\ncollection = \"nope\"\n");
            assert!(
                error
                    .starts_with("configuration: c.toml:2:14: intake.collection \"nope\" names no"),
                "{error}"
            );
            let error = Settings::load(None);
            assert!(error.is_ok(), "without a file, nothing to name: {error:?}");
            Ok(())
        });
    }

    #[test]
    fn the_nearest_choice_is_offered_only_when_it_is_near() {
        let keys = ["listen", "log", "log_format", "anonymous_read"];
        assert_eq!(nearest("lisen", &keys), Some("listen"));
        assert_eq!(nearest("LISTEN", &keys), Some("listen"));
        assert_eq!(nearest("anonymus_read", &keys), Some("anonymous_read"));
        assert_eq!(nearest("logformat", &keys), Some("log_format"));
        assert_eq!(nearest("colour", &keys), None);
        assert_eq!(nearest("x", &["xy", "z"]), Some("xy"));
        assert_eq!(nearest("ab", &["cd"]), None);
    }
}
