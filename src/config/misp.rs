//! `[misp]` as a whole configuration sees it: feed names are URL segments, unique, and not collections'
//! names, and each feed's collection exists.

use super::{ConfigError, Settings, is_url_segment};

impl Settings {
    pub(super) fn validate_misp(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for (index, feed) in self.misp.feeds.iter().enumerate() {
            let invalid = |key: &str, message: String| {
                Err(ConfigError::at(
                    format!("misp.feeds[{index}].{key}"),
                    message,
                ))
            };
            if !is_url_segment(&feed.name) {
                return invalid(
                    "name",
                    format!(
                        "misp.feeds name {:?} must be one URL segment of [A-Za-z0-9._~-]",
                        feed.name
                    ),
                );
            }
            if !names.insert(feed.name.as_str()) {
                return invalid(
                    "name",
                    format!("misp.feeds name {:?} is used twice", feed.name),
                );
            }
            if self.collection(&feed.name).is_some() {
                return invalid(
                    "name",
                    format!(
                        "misp.feeds name {:?} is a collection's id or alias, whose feed is served there already",
                        feed.name
                    ),
                );
            }
            if self.collection(&feed.collection).is_none() {
                return invalid(
                    "collection",
                    format!(
                        "misp.feeds {:?}: collection {:?} names no collection (by id or alias)",
                        feed.name, feed.collection
                    ),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
// figment's Jail returns figment's large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;
    use std::path::Path;

    #[test]
    fn a_feed_may_take_neither_a_collections_name_nor_an_unknown_collection() {
        Jail::expect_with(|jail| {
            let feed = |name: &str, collection: &str| {
                format!("[[misp.feeds]]\nname = \"{name}\"\ncollection = \"{collection}\"\n")
            };
            for (text, named) in [
                (feed("intelmq", "intelmq"), "is a collection's id or alias"),
                (
                    feed("green", "nope"),
                    "collection \"nope\" names no collection",
                ),
                (feed("a/b", "intelmq"), "must be one URL segment"),
                (
                    feed("x", "intelmq") + &feed("x", "intelmq"),
                    "is used twice",
                ),
            ] {
                jail.create_file("c.toml", &text)?;
                let error = Settings::load(Some(Path::new("c.toml"))).unwrap_err();
                assert!(error.to_string().contains(named), "{error}");
            }
            jail.create_file("c.toml", &feed("green", "intelmq"))?;
            assert!(Settings::load(Some(Path::new("c.toml"))).is_ok());
            Ok(())
        });
    }
}
