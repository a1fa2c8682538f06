//! The members of a posted object that [`super::unmap`] reads, parsed into strings that borrow from the text
//! instead of into a `Value` tree: an indicator, the foreign object posted most, is mapped from them alone. The
//! rules are those of the map they replace: a member that is not a string counts as absent, and of repeated
//! keys the last counts. Everything else is checked as strictly as a `Value` parse would, and passed over.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::envelope::JsonSyntax;
use crate::mapping::CARRIER_EXTENSION_ID;

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Members<'a> {
    pub object_type: Option<Cow<'a, str>>,
    pub id: Option<Cow<'a, str>>,
    pub pattern: Option<Cow<'a, str>>,
    pub description: Option<Cow<'a, str>>,
    pub valid_from: Option<Cow<'a, str>>,
    pub first_observed: Option<Cow<'a, str>>,
    pub created: Option<Cow<'a, str>>,
    /// `extensions` is an object that holds the carrier's extension: one of our own standard objects.
    pub ours: bool,
}

impl<'a> Members<'a> {
    /// `None` when the text is not a JSON object.
    pub fn read(text: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(text).ok()
    }
}

/// The keys read; any other is [`Key::Other`].
enum Key {
    Type,
    Id,
    Pattern,
    Description,
    ValidFrom,
    FirstObserved,
    Created,
    Extensions,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "type" => Key::Type,
                    "id" => Key::Id,
                    "pattern" => Key::Pattern,
                    "description" => Key::Description,
                    "valid_from" => Key::ValidFrom,
                    "first_observed" => Key::FirstObserved,
                    "created" => Key::Created,
                    "extensions" => Key::Extensions,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Members::default();
                while let Some(key) = map.next_key::<Key>()? {
                    let slot = match key {
                        Key::Type => &mut members.object_type,
                        Key::Id => &mut members.id,
                        Key::Pattern => &mut members.pattern,
                        Key::Description => &mut members.description,
                        Key::ValidFrom => &mut members.valid_from,
                        Key::FirstObserved => &mut members.first_observed,
                        Key::Created => &mut members.created,
                        Key::Extensions => {
                            members.ours = map.next_value::<Extensions>()?.0;
                            continue;
                        }
                        Key::Other => {
                            map.next_value::<JsonSyntax>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value::<Text>()?.0;
                }
                Ok(members)
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// A string member, `None` when it is any other value.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(text))))
            }
            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(text.to_owned()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_unit<E>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
                JsonSyntax.visit_seq(seq).map(|_| Text(None))
            }
            // A number is a map too, with `arbitrary_precision`.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
                JsonSyntax.visit_map(map).map(|_| Text(None))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// Whether `extensions` is an object with the carrier's extension among its keys.
struct Extensions(bool);

impl<'de> Deserialize<'de> for Extensions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExtensionsVisitor;
        impl<'de> Visitor<'de> for ExtensionsVisitor {
            type Value = Extensions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Extensions, E> {
                Ok(Extensions(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Extensions, E> {
                Ok(Extensions(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Extensions, E> {
                Ok(Extensions(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Extensions, E> {
                Ok(Extensions(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<Extensions, E> {
                Ok(Extensions(false))
            }
            fn visit_unit<E>(self) -> Result<Extensions, E> {
                Ok(Extensions(false))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Extensions, A::Error> {
                JsonSyntax.visit_seq(seq).map(|_| Extensions(false))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extensions, A::Error> {
                let mut ours = false;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    ours |= key == CARRIER_EXTENSION_ID;
                    map.next_value::<JsonSyntax>()?;
                }
                Ok(Extensions(ours))
            }
        }
        deserializer.deserialize_any(ExtensionsVisitor)
    }
}
