//! A JSON value checked and passed over, with nothing kept.

use serde::Deserialize;
use serde::de::{MapAccess, SeqAccess, Visitor};

/// Any JSON value, checked as strictly as parsing it into a `serde_json::Value` would (strings decoded, so
/// invalid UTF-8 and a lone surrogate escape are refused, which `RawValue` and `IgnoredAny` let through), with
/// nothing kept.
pub struct JsonSyntax;

impl<'de> Deserialize<'de> for JsonSyntax {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonSyntax)
    }
}

impl<'de> Visitor<'de> for JsonSyntax {
    type Value = JsonSyntax;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<JsonSyntax>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_key::<JsonSyntax>()?.is_some() {
            map.next_value::<JsonSyntax>()?;
        }
        Ok(self)
    }
}
