//! What an object is, by its type, and so which common properties it must have (STIX 2.1 §3.2, §6, §7).

/// The 18 cyber-observable types of STIX 2.1 §6: not versioned, so they have no `created` or `modified`.
const SCO_TYPES: [&str; 18] = [
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// The domain objects of STIX 2.1 §4; any other type that is not an SCO, an SRO or a meta object is custom.
const SDO_TYPES: [&str; 19] = [
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sdo,
    Sro,
    Sco,
    LanguageContent,
    MarkingDefinition,
    ExtensionDefinition,
    Custom,
}

impl Kind {
    pub fn of(object_type: &str) -> Self {
        match object_type {
            "relationship" | "sighting" => Self::Sro,
            "language-content" => Self::LanguageContent,
            "marking-definition" => Self::MarkingDefinition,
            "extension-definition" => Self::ExtensionDefinition,
            t if SCO_TYPES.contains(&t) => Self::Sco,
            t if SDO_TYPES.contains(&t) => Self::Sdo,
            _ => Self::Custom,
        }
    }

    /// The common properties beyond `type` and `id` that every object of this kind has. A marking
    /// definition cannot be versioned (§7.2), so it has no `modified`; SCOs are not versioned at all and may
    /// leave out `spec_version` (§3.2).
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Self::Sco => &[],
            Self::MarkingDefinition => &["spec_version", "created"],
            Self::Sdo
            | Self::Sro
            | Self::LanguageContent
            | Self::ExtensionDefinition
            | Self::Custom => &["spec_version", "created", "modified"],
        }
    }

    /// How a message names the kind, with the section of STIX 2.1 that sets its properties.
    pub fn described(self) -> &'static str {
        match self {
            Self::Sdo => "an SDO (STIX 2.1 §3.2)",
            Self::Sro => "an SRO (STIX 2.1 §3.2)",
            Self::Sco => "an SCO (STIX 2.1 §3.2)",
            Self::LanguageContent => "a language-content (STIX 2.1 §7.1)",
            Self::MarkingDefinition => "a marking-definition (STIX 2.1 §7.2)",
            Self::ExtensionDefinition => "an extension-definition (STIX 2.1 §7.3)",
            Self::Custom => "a custom object, as any type that is not an SCO (STIX 2.1 §3.2)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_type() {
        let cases = [
            ("indicator", Kind::Sdo),
            ("malware-analysis", Kind::Sdo),
            ("sighting", Kind::Sro),
            ("x509-certificate", Kind::Sco),
            ("ipv4-addr", Kind::Sco),
            ("language-content", Kind::LanguageContent),
            ("marking-definition", Kind::MarkingDefinition),
            ("extension-definition", Kind::ExtensionDefinition),
            ("iep04-envelope", Kind::Custom),
            ("x-acme-widget", Kind::Custom),
        ];
        for (object_type, kind) in cases {
            assert_eq!(Kind::of(object_type), kind, "{object_type}");
        }
    }

    #[test]
    fn only_scos_need_no_created_and_only_markings_no_modified() {
        assert!(Kind::Sco.required().is_empty());
        assert!(!Kind::MarkingDefinition.required().contains(&"modified"));
        for kind in [
            Kind::Sdo,
            Kind::Sro,
            Kind::LanguageContent,
            Kind::ExtensionDefinition,
            Kind::Custom,
        ] {
            assert_eq!(
                kind.required(),
                ["spec_version", "created", "modified"],
                "{kind:?}"
            );
        }
    }
}
