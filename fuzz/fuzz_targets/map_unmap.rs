//! IntelMQ -> STIX mapping and back (`src/mapping/`, `src/mapping/reverse.rs`).
//!
//! Two kinds of input, told apart by the first byte: below 128, the rest is a record (an envelope or a bare
//! event, as `POST /envelopes` takes it); from 128, the rest drives an IntelMQ event of the fields the tables
//! map (addresses, ports, transport, host name, URL, AS number), written as the mapping writes them.
//!
//! Properties, for any accepted record: mapping is deterministic; the carrier gives back the exact envelope;
//! our own standard objects give back nothing (their carrier holds the event); the same objects seen as
//! foreign ones (their back-link removed) give back the values of the observables they refer to. For the
//! driven events, map then unmap gives the event's mapped fields back: every field comes back with its value
//! (a destination field without a connection as the `source.` one, since an observable alone has no side),
//! and nothing comes back that the event did not hold.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use stixgate::envelope::{Envelope, IntakeRules, Minting, Shape};
use stixgate::mapping::{Tables, Unmapped, map_envelope, unmap};

static TABLES: LazyLock<Tables> = LazyLock::new(Tables::embedded);

/// Fields that say where an unmapped payload came from, not what the event held.
const BOOKKEEPING: [&str; 4] = [
    "time.source",
    "classification.type",
    "raw",
    "event_description.text",
];

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    if mode < 128 {
        if let Ok(envelope) = Envelope::parse(rest, &rules()) {
            round_trip(&envelope);
        }
    } else if let Ok(event) = Event::arbitrary_take_rest(Unstructured::new(rest)) {
        fields_come_back(&event.payload());
    }
});

fn rules() -> IntakeRules {
    IntakeRules {
        minting: Minting::Hash,
        bare_shape: Shape::Draft,
    }
}

/// The payloads that the standard objects of `envelope`, seen as foreign objects, give back.
fn round_trip(envelope: &Envelope) -> Vec<Map<String, Value>> {
    let mapped = map_envelope(envelope, &TABLES, None);
    assert_eq!(
        mapped,
        map_envelope(envelope, &TABLES, None),
        "mapping is not deterministic"
    );
    let carrier = serde_json::to_vec(&mapped.carrier).expect("JSON values serialize");
    match unmap(&carrier, &[]) {
        Ok(Unmapped::Carrier(back)) => {
            assert_eq!(back.text(), envelope.text(), "the carrier changed")
        }
        other => panic!("the carrier gave {other:?}"),
    }
    let mut payloads = Vec::new();
    for object in &mapped.standard {
        let text = serde_json::to_vec(object).expect("JSON values serialize");
        let result = unmap(&text, &mapped.standard);
        assert!(
            matches!(result, Ok(Unmapped::Skipped)),
            "{object}: {result:?}"
        );
        let Some(mut foreign) = object.as_object().cloned() else {
            panic!("a standard object that is no object: {object}");
        };
        if foreign.remove("extensions").is_none() {
            continue;
        }
        let text = serde_json::to_vec(&foreign).expect("JSON values serialize");
        let payload = match unmap(&text, &mapped.standard) {
            Ok(Unmapped::Foreign(back)) => back.payload(),
            Ok(Unmapped::Skipped) => continue,
            other => panic!("{object} without its back-link gave {other:?}"),
        };
        if object["type"] == "observed-data" {
            observables_come_back(object, &mapped.standard, &payload);
        }
        payloads.push(payload);
    }
    payloads
}

/// An observed-data's observables that name a value give it back, and nothing else comes back.
fn observables_come_back(observed: &Value, objects: &[Value], payload: &Map<String, Value>) {
    let mapped_types = ["ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr"];
    let mut expected: Vec<&Value> = Vec::new();
    for reference in observed["object_refs"].as_array().into_iter().flatten() {
        let Some(sco) = objects.iter().find(|o| &o["id"] == reference) else {
            panic!("{reference} refers to no object of the envelope");
        };
        match sco["type"].as_str() {
            Some(t) if mapped_types.contains(&t) => expected.push(&sco["value"]),
            Some("autonomous-system") => expected.push(&sco["number"]),
            Some("network-traffic") => {
                expected.extend(["src_port", "dst_port"].iter().filter_map(|p| sco.get(*p)));
            }
            _ => {}
        }
    }
    for value in &expected {
        assert!(
            payload.values().any(|v| v == *value),
            "{value} did not come back: {payload:?}"
        );
    }
    for (field, value) in payload
        .iter()
        .filter(|(f, _)| !BOOKKEEPING.contains(&f.as_str()))
    {
        assert!(
            field == "protocol.transport" || expected.contains(&value),
            "{field} = {value} came back from nothing of {observed}"
        );
    }
}

fn fields_come_back(event: &Map<String, Value>) {
    let text = serde_json::to_vec(event).expect("JSON values serialize");
    let envelope = Envelope::parse(&text, &rules()).expect("a driven event is a valid record");
    let payloads = round_trip(&envelope);
    let has_ip = event.contains_key("source.ip") || event.contains_key("destination.ip");
    let connection = has_ip
        && ["source.port", "destination.port", "protocol.transport"]
            .iter()
            .any(|f| event.contains_key(*f));
    let sourced = |field: &str| field.replacen("destination.", "source.", 1);
    for (field, value) in event
        .iter()
        .filter(|(f, _)| !BOOKKEEPING.contains(&f.as_str()))
    {
        let mapped = has_ip
            || !["source.port", "destination.port", "protocol.transport"].contains(&field.as_str());
        if !mapped || field == "feed.name" {
            continue;
        }
        let back = payloads.iter().any(|p| {
            p.get(field) == Some(value) || (!connection && p.get(&sourced(field)) == Some(value))
        });
        assert!(back, "{field} = {value} did not come back: {payloads:?}");
    }
    for payload in &payloads {
        for (field, value) in payload
            .iter()
            .filter(|(f, _)| !BOOKKEEPING.contains(&f.as_str()))
        {
            let held = event.get(field) == Some(value)
                || event
                    .get(&field.replacen("source.", "destination.", 1))
                    .is_some_and(|v| v == value);
            assert!(
                held,
                "{field} = {value} came back, but the event held no such value: {event:?}"
            );
        }
    }
}

/// An IntelMQ event of the fields the tables map, each written as the mapping writes it.
#[derive(Debug, Arbitrary)]
struct Event {
    classification: Classification,
    source_ip: Option<Address>,
    destination_ip: Option<Address>,
    source_port: Option<u16>,
    destination_port: Option<u16>,
    transport: Option<Transport>,
    fqdn: Option<Name>,
    url: Option<(Name, Name)>,
    asn: Option<u32>,
}

#[derive(Debug, Arbitrary)]
enum Address {
    V4(u32),
    V6(u128),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Classification {
    C2Server,
    Scanner,
    Phishing,
    Other,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Transport {
    Tcp,
    Udp,
    Sctp,
    Dccp,
}

/// A host-name label: 1 to 20 of `a-z0-9`.
#[derive(Debug)]
struct Name(String);

impl<'a> Arbitrary<'a> for Name {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let length = u.int_in_range(1..=20)?;
        let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let name = (0..length)
            .map(|_| u.choose(alphabet).map(|&b| char::from(b)))
            .collect::<arbitrary::Result<String>>()?;
        Ok(Self(name))
    }
}

impl Address {
    /// The address as STIX writes it; `None` for IPv6 forms STIX refuses (written with a dotted quad).
    fn text(&self) -> Option<String> {
        match self {
            Address::V4(bits) => Some(Ipv4Addr::from(*bits).to_string()),
            Address::V6(bits) => {
                Some(Ipv6Addr::from(*bits).to_string()).filter(|t| !t.contains('.'))
            }
        }
    }
}

impl Event {
    fn payload(&self) -> Map<String, Value> {
        let classification = match self.classification {
            Classification::C2Server => "c2-server",
            Classification::Scanner => "scanner",
            Classification::Phishing => "phishing",
            Classification::Other => "other",
        };
        let mut event = Map::new();
        event.insert("feed.name".into(), json!("fuzz"));
        event.insert("classification.type".into(), json!(classification));
        let mut put = |field: &str, value: Option<Value>| {
            if let Some(value) = value {
                event.insert(field.into(), value);
            }
        };
        put(
            "source.ip",
            self.source_ip
                .as_ref()
                .and_then(Address::text)
                .map(Value::from),
        );
        put(
            "destination.ip",
            self.destination_ip
                .as_ref()
                .and_then(Address::text)
                .map(Value::from),
        );
        put("source.port", self.source_port.map(Value::from));
        put("destination.port", self.destination_port.map(Value::from));
        let transport = self.transport.map(|t| match t {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Sctp => "sctp",
            Transport::Dccp => "dccp",
        });
        put("protocol.transport", transport.map(Value::from));
        put(
            "source.fqdn",
            self.fqdn
                .as_ref()
                .map(|n| json!(format!("{}.example", n.0))),
        );
        put(
            "source.url",
            self.url
                .as_ref()
                .map(|(host, path)| json!(format!("http://{}.example/{}", host.0, path.0))),
        );
        put("source.asn", self.asn.filter(|n| *n > 0).map(Value::from));
        event
    }
}
