//! `[intelmq]` as a whole configuration sees it: the collections it names exist, and each push entry is
//! usable and has a cursor of its own.

use std::collections::HashSet;

use super::{ConfigError, Settings};

impl Settings {
    pub(super) fn validate_intelmq(&self) -> Result<(), ConfigError> {
        let unknown =
            |collection: &str| format!("no collection has the id or alias {collection:?}");
        if let Some(tcp) = &self.intelmq.tcp {
            let invalid = |key: &str, message: String| {
                Err(ConfigError::at(
                    format!("intelmq.tcp.{key}"),
                    format!("intelmq.tcp: {message}"),
                ))
            };
            if let Some(collection) = &tcp.collection
                && self.collection(collection).is_none()
            {
                return invalid("collection", unknown(collection));
            }
            if tcp.separator.is_empty() {
                return invalid("separator", "separator must not be empty".into());
            }
        }
        let mut entries = HashSet::new();
        for (index, push) in self.intelmq.push.iter().enumerate() {
            let invalid = |key: &str, message: String| {
                Err(ConfigError::at(
                    format!("intelmq.push[{index}]{key}"),
                    format!("intelmq.push {:?}: {message}", push.url),
                ))
            };
            match reqwest::Url::parse(&push.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => return invalid(".url", "url must be an http:// or https:// URL".into()),
            }
            let collection = push.collection(&self.intake.collection);
            if self.collection(collection).is_none() {
                return invalid(".collection", unknown(collection));
            }
            // The entry's cursor is kept under its URL and collection: two such entries would share it.
            if !entries.insert((push.url.as_str(), collection)) {
                return invalid(
                    "",
                    "another entry pushes the same collection to this url".into(),
                );
            }
            if push.interval == 0 {
                return invalid(".interval", "interval must be at least 1 (seconds)".into());
            }
            if let Err(error) = push.field_list() {
                return invalid(".fields", error.to_string());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
// figment's `Jail` fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use figment::Jail;

    use crate::config::Settings;

    #[test]
    fn intelmq_entries_load_and_their_mistakes_name_the_entry() {
        Jail::expect_with(|jail| {
            let push = |extra: &str| {
                format!(
                    "[[intelmq.push]]\nurl = \"http://q.example:5000/intelmq/push\"\ninterval = 5\n{extra}"
                )
            };
            jail.create_file(
                "good.toml",
                &format!("[intelmq.tcp]\nlisten = \"127.0.0.1:5170\"\n{}", push("")),
            )?;
            let settings = Settings::load(Some(Path::new("good.toml"))).unwrap();
            assert_eq!(settings.intelmq.tcp.unwrap().separator, "\n");
            assert_eq!(settings.intelmq.push.len(), 1);
            assert!(
                Settings::load(None).unwrap().intelmq.tcp.is_none(),
                "off by default"
            );
            jail.create_file(
                "fields.json",
                "{\"event\": {\"Bad Key\": {\"type\": \"String\"}}, \"report\": {}}",
            )?;
            for (text, expected) in [
                (
                    push("interval = 0\n").replace("interval = 5\n", ""),
                    "interval must be at least 1",
                ),
                (
                    push("collection = \"nope\"\n"),
                    "no collection has the id or alias \"nope\"",
                ),
                (
                    push("fields = \"missing.json\"\n"),
                    "cannot read the field list",
                ),
                (push("fields = \"fields.json\"\n"), "is not an IntelMQ key"),
                (
                    push("").replace("http://q.example:5000", "ftp://q"),
                    "http:// or https://",
                ),
                (
                    format!("{}{}", push(""), push("")),
                    "same collection to this url",
                ),
            ] {
                jail.create_file("bad.toml", &text)?;
                let error = Settings::load(Some(Path::new("bad.toml")))
                    .unwrap_err()
                    .to_string();
                assert!(error.contains(expected), "{text}: {error}");
                if !text.contains("ftp://") {
                    assert!(
                        error.contains("intelmq.push \"http://q.example:5000/intelmq/push\""),
                        "{error}"
                    );
                }
            }
            jail.create_file(
                "tcp.toml",
                "[intelmq.tcp]\nlisten = \"127.0.0.1:0\"\ncollection = \"nope\"\n",
            )?;
            let error = Settings::load(Some(Path::new("tcp.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("intelmq.tcp: no collection"), "{error}");
            Ok(())
        });
    }
}
