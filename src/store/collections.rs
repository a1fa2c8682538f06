//! The instance's collections by name: the ids the store keys everything by, and the aliases configuration
//! gives them. The rooms above the store take this instead of the whole configuration.

/// Every collection's id and alias, in the order the configuration lists them.
#[derive(Debug, Clone, Default)]
pub struct CollectionNames {
    /// `(id, alias)` pairs.
    collections: Vec<(String, Option<String>)>,
}

impl CollectionNames {
    pub fn new(collections: impl IntoIterator<Item = (String, Option<String>)>) -> Self {
        Self {
            collections: collections.into_iter().collect(),
        }
    }

    /// The id of the collection with this id or, failing that, this alias.
    pub fn id_of(&self, id_or_alias: &str) -> Option<&str> {
        let all = || self.collections.iter();
        all()
            .find(|(id, _)| id == id_or_alias)
            .or_else(|| all().find(|(_, alias)| alias.as_deref() == Some(id_or_alias)))
            .map(|(id, _)| id.as_str())
    }

    /// Every collection's id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.collections.iter().map(|(id, _)| id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_wins_over_an_alias_of_the_same_text() {
        let names = CollectionNames::new([
            ("a".to_owned(), Some("b".to_owned())),
            ("b".to_owned(), None),
        ]);
        assert_eq!(names.id_of("b"), Some("b"));
        assert_eq!(names.id_of("a"), Some("a"));
        assert_eq!(names.id_of("c"), None);
        assert_eq!(names.ids().collect::<Vec<_>>(), ["a", "b"]);
    }
}
