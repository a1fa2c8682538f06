//! Standard STIX 2.1 objects for an IntelMQ payload, driven by the tables.
//!
//! - Observables become SCOs with the spec's deterministic ids, grouped into one `observed-data` per
//!   connected group (a `network-traffic` with its addresses; any other observable alone), so that each
//!   observed-data is a connected SCO graph, as STIX's best practice and misp-stix want it.
//! - IoC classifications add an `indicator`, `based-on` the observed-data of its observable.
//! - `malware`, `vulnerability`, country `location` and the provider's `identity` are shared by every
//!   envelope that names them: their content never varies, so they carry no back-link. Everything per
//!   envelope (observed-data, indicator, relationships) points back to the carrier through the extension.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::ids::{id_of, merge, sco, sco_id, sco_with_id, standard_id};
use super::observables::{Address, Observables, observed_time};
use super::tables::{PatternSource, Side, Tables};
use super::traffic::network_traffic;
use super::{Context, GATEWAY_IDENTITY_ID, back_link};
use crate::stix::Timestamp;

/// `created` and `modified` of the shared objects, which no single envelope dates.
const SHARED_TIME: &str = "2026-11-22T00:00:00.000Z";

/// An SCO and the observed-data it ends up in.
struct Sco {
    object: Value,
    group: usize,
}

pub(super) fn standard_objects(
    payload: &Map<String, Value>,
    context: &Context,
    tables: &Tables,
    warnings: &mut Vec<String>,
) -> Vec<Value> {
    let found = Observables::read(payload, tables, warnings);
    let mut builder = Builder {
        context,
        creator: found.provider.as_deref().map_or_else(
            || GATEWAY_IDENTITY_ID.to_owned(),
            |p| standard_id("identity", &["provider", p]),
        ),
        objects: Vec::new(),
    };
    let observed_at = observed_time(payload)
        .map(Timestamp::to_stix_millis)
        .unwrap_or_else(|| context.created.clone());

    // Observables, grouped.
    let mut scos: Vec<Sco> = Vec::new();
    let mut groups = 0;
    let mut new_group = || {
        groups += 1;
        groups - 1
    };
    let mut ip_ids: Vec<(Side, String, Address)> = Vec::new();
    for address in found.addresses() {
        let object = sco(address.object_type(), json!({"value": address.value}));
        ip_ids.push((address.side, id_of(&object), address));
        scos.push(Sco {
            object,
            group: usize::MAX,
        });
    }
    if let Some(traffic) = network_traffic(&found, &ip_ids, warnings) {
        let group = new_group();
        for sco in scos.iter_mut() {
            let id = id_of(&sco.object);
            if [&traffic["src_ref"], &traffic["dst_ref"]]
                .iter()
                .any(|r| r.as_str() == Some(&id))
            {
                sco.group = group;
            }
        }
        scos.push(Sco {
            object: traffic,
            group,
        });
    }
    for sco in scos.iter_mut().filter(|s| s.group == usize::MAX) {
        sco.group = new_group();
    }
    let singles = found
        .domains
        .iter()
        .map(|(_, d)| sco("domain-name", json!({"value": d})))
        .chain(found.urls.iter().map(|u| sco("url", json!({"value": u}))))
        .chain(
            found
                .emails
                .iter()
                .map(|(_, e)| sco("email-addr", json!({"value": e}))),
        )
        .chain(
            found
                .asns
                .iter()
                .map(|(_, n)| sco("autonomous-system", json!({"number": n}))),
        )
        .chain(file(&found.hashes));
    for object in singles {
        if !scos.iter().any(|s| id_of(&s.object) == id_of(&object)) {
            scos.push(Sco {
                object,
                group: new_group(),
            });
        }
    }

    let observed_data: Vec<String> = (0..groups)
        .map(|group| {
            let refs: Vec<String> = scos
                .iter()
                .filter(|s| s.group == group)
                .map(|s| id_of(&s.object))
                .collect();
            builder.per_envelope(
                "observed-data",
                &[&refs[0]],
                json!({
                    "first_observed": observed_at,
                    "last_observed": observed_at,
                    "number_observed": 1,
                    "object_refs": refs,
                }),
            )
        })
        .collect();
    let group_of = |sco_id: &str| {
        scos.iter()
            .find(|s| id_of(&s.object) == sco_id)
            .map(|s| observed_data[s.group].clone())
    };

    // Relationships between observables.
    for (side, ip_id, _) in &ip_ids {
        for (_, number) in found.asns.iter().filter(|(s, _)| s == side) {
            let asn = sco_id(
                "autonomous-system",
                json!({"number": number}).as_object().expect("an object"),
            );
            builder.relationship(ip_id, "belongs-to", &asn);
        }
    }

    // The indicator.
    let classification = payload
        .get("classification.type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let indicator = tables.indicators.get(classification).and_then(|rule| {
        let (pattern, observable) = rule
            .pattern_from
            .iter()
            .find_map(|source| pattern(*source, &found, &ip_ids))?;
        let value = observable.1.clone();
        let description = payload
            .get("event_description.text")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let feed = payload
                    .get("feed.name")
                    .and_then(Value::as_str)
                    .unwrap_or("IntelMQ");
                format!("{classification} reported by {feed}")
            });
        let mut properties = json!({
            "name": format!("{classification}: {value}"),
            "description": description,
            "indicator_types": rule.indicator_types,
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": observed_at,
        });
        if let Some(confidence) = payload
            .get("feed.accuracy")
            .and_then(Value::as_f64)
            .filter(|a| (0.0..=100.0).contains(a))
        {
            properties["confidence"] = json!(confidence.round() as u64);
        }
        let id = builder.per_envelope("indicator", &[], properties);
        if let Some(observed) = group_of(&observable.0) {
            builder.relationship(&id, "based-on", &observed);
        }
        Some(id)
    });

    // Shared objects, and how this envelope relates to them.
    let anchor = indicator.clone().or_else(|| observed_data.first().cloned());
    if let Some(name) = &found.malware {
        let malware = builder.shared("malware", &[name], json!({"name": name, "is_family": true}));
        match (&indicator, &anchor) {
            (Some(indicator), _) => builder.relationship(indicator, "indicates", &malware),
            (None, Some(anchor)) => builder.relationship(anchor, "related-to", &malware),
            (None, None) => {}
        }
    }
    for cve in &found.cves {
        let vulnerability = builder.shared(
            "vulnerability",
            &[cve],
            json!({"name": cve, "external_references": [{"source_name": "cve", "external_id": cve}]}),
        );
        if let Some(anchor) = &anchor {
            builder.relationship(anchor, "related-to", &vulnerability);
        }
    }
    for (side, country) in &found.countries {
        // The name is the code: the object is shared, so it may hold nothing a single envelope says.
        let location = builder.shared(
            "location",
            &[country],
            json!({"name": country, "country": country}),
        );
        for (_, ip_id, _) in ip_ids.iter().filter(|(s, _, _)| s == side) {
            builder.relationship(ip_id, "related-to", &location);
        }
    }
    if let Some(provider) = &found.provider {
        let identity = json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": builder.creator,
            "created": SHARED_TIME,
            "modified": SHARED_TIME,
            "name": provider,
            "identity_class": "organization",
        });
        builder.objects.push(identity);
    }

    let mut objects: Vec<Value> = scos.into_iter().map(|s| s.object).collect();
    objects.extend(builder.objects);
    objects
}

struct Builder<'a> {
    context: &'a Context,
    /// `created_by_ref` of the per-envelope objects: the feed provider, else the gateway.
    creator: String,
    objects: Vec<Value>,
}

impl Builder<'_> {
    /// An SDO or SRO of this envelope, with its back-link; gives its id.
    fn per_envelope(&mut self, object_type: &str, parts: &[&str], properties: Value) -> String {
        let mut name = vec![self.context.envelope_id.as_str(), object_type];
        name.extend_from_slice(parts);
        let id = standard_id(object_type, &name);
        let mut object = json!({
            "type": object_type,
            "spec_version": "2.1",
            "id": id,
            "created": self.context.created,
            "modified": self.context.modified,
            "created_by_ref": self.creator,
        });
        merge(&mut object, properties);
        if let Some(marking) = &self.context.marking {
            object["object_marking_refs"] = json!([marking]);
        }
        object["extensions"] = back_link(self.context);
        self.objects.push(object);
        id
    }

    fn relationship(&mut self, source: &str, relationship_type: &str, target: &str) {
        self.per_envelope(
            "relationship",
            &[source, relationship_type, target],
            json!({"relationship_type": relationship_type, "source_ref": source, "target_ref": target}),
        );
    }

    /// An SDO shared by every envelope that names it; gives its id.
    fn shared(&mut self, object_type: &str, parts: &[&str], properties: Value) -> String {
        let id = standard_id(object_type, parts);
        if !self.objects.iter().any(|o| o["id"] == id.as_str()) {
            let mut object = json!({
                "type": object_type,
                "spec_version": "2.1",
                "id": id,
                "created": SHARED_TIME,
                "modified": SHARED_TIME,
                "created_by_ref": GATEWAY_IDENTITY_ID,
            });
            merge(&mut object, properties);
            self.objects.push(object);
        }
        id
    }
}

/// A `file` with every hash; its id comes from one hash, by the spec's preference (§6.7).
fn file(hashes: &BTreeMap<String, String>) -> Option<Value> {
    let (algorithm, value) = ["MD5", "SHA-1", "SHA-256", "SHA-512"]
        .iter()
        .find_map(|a| hashes.get_key_value(*a))?;
    let basis = json!({"hashes": {algorithm: value}});
    let id = sco_id("file", basis.as_object().expect("an object"));
    let properties = json!({"hashes": hashes})
        .as_object()
        .cloned()
        .unwrap_or_default();
    Some(sco_with_id("file", id, properties))
}

/// The pattern for one kind of observable, with the SCO id and value it is about.
fn pattern(
    source: PatternSource,
    found: &Observables,
    ip_ids: &[(Side, String, Address)],
) -> Option<(String, (String, String))> {
    let escape = |value: &str| value.replace('\\', "\\\\").replace('\'', "\\'");
    let simple = |object_type: &str, value: &str| {
        let id = sco_id(
            object_type,
            json!({"value": value}).as_object().expect("an object"),
        );
        (
            format!("[{object_type}:value = '{}']", escape(value)),
            (id, value.to_owned()),
        )
    };
    match source {
        PatternSource::Url => found.urls.first().map(|u| simple("url", u)),
        PatternSource::Domain => found.domains.first().map(|(_, d)| simple("domain-name", d)),
        PatternSource::Email => found.emails.first().map(|(_, e)| simple("email-addr", e)),
        // The source side first, as the tables say (the fields are read in name order: destination first).
        PatternSource::Ip => ip_ids
            .iter()
            .find(|(side, _, _)| *side == Side::Src)
            .or(ip_ids.first())
            .map(|(_, _, address)| simple(address.object_type(), &address.value)),
        PatternSource::Hash => {
            let (algorithm, value) = ["SHA-256", "SHA-1", "MD5", "SHA-512"]
                .iter()
                .find_map(|a| found.hashes.get_key_value(*a))?;
            let path = if algorithm.contains('-') {
                format!("'{algorithm}'")
            } else {
                algorithm.clone()
            };
            let id = file(&found.hashes).map(|f| id_of(&f)).unwrap_or_default();
            Some((
                format!("[file:hashes.{path} = '{}']", escape(value)),
                (id, value.clone()),
            ))
        }
    }
}
