//! The fields an IntelMQ instance accepts (its `harmonization.conf`): IntelMQ 3.5's list ships in
//! `mappings/intelmq-fields-3.5.json`; a peer with other fields can be given its own list.

use std::collections::BTreeMap;

use serde::Deserialize;

const INTELMQ_35: &str = include_str!("../../../mappings/intelmq-fields-3.5.json");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldSpec {
    #[serde(rename = "type")]
    pub field_type: String,
    pub length: Option<usize>,
    pub regex: Option<String>,
    pub iregex: Option<String>,
}

/// Event and report fields, by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldList {
    pub event: BTreeMap<String, FieldSpec>,
    pub report: BTreeMap<String, FieldSpec>,
}

#[derive(Debug, thiserror::Error)]
#[error("IntelMQ field list: {0}")]
pub struct FieldsError(String);

impl FieldList {
    /// IntelMQ 3.5.0's fields.
    pub fn intelmq_35() -> Self {
        Self::shared_35().clone()
    }

    /// IntelMQ 3.5.0's fields, parsed once.
    pub fn shared_35() -> &'static Self {
        static LIST: std::sync::OnceLock<FieldList> = std::sync::OnceLock::new();
        LIST.get_or_init(|| {
            Self::parse(INTELMQ_35).expect("the shipped list is valid; a unit test checks it")
        })
    }

    /// A list in the JSON form of `harmonization.conf` (extra keys such as `description` are ignored).
    pub fn parse(text: &str) -> Result<Self, FieldsError> {
        let list: FieldList = serde_json::from_str(text).map_err(|e| FieldsError(e.to_string()))?;
        if let Some(bad) = list
            .event
            .keys()
            .chain(list.report.keys())
            .find(|k| !crate::envelope::intelmq::is_valid_key(k))
        {
            return Err(FieldsError(format!("{bad:?} is not an IntelMQ key")));
        }
        Ok(list)
    }

    /// Whether an event (or, with `report`, a report) may hold `key`. `extra.*` is free-form.
    pub fn accepts(&self, key: &str, report: bool) -> bool {
        let fields = if report { &self.report } else { &self.event };
        fields.contains_key(key) || (key.starts_with("extra.") && fields.contains_key("extra"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_is_intelmq_35() {
        let list = FieldList::intelmq_35();
        assert_eq!(list.event.len(), 89);
        assert!(list.accepts("source.ip", false) && list.accepts("severity", false));
        assert!(list.accepts("extra.anything.nested", false));
        assert!(
            !list.accepts("source.ip", true),
            "reports hold feed fields only"
        );
        assert!(!list.accepts("meta", false) && !list.accepts("notify", false));
        assert_eq!(list.event["source.port"].length, Some(5));
    }
}
