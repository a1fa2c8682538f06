//! Intake: envelopes and bare IntelMQ events become the store's writes (the envelope, its carrier and standard
//! objects), for `POST /envelopes`, `POST /intelmq/events`, IntelMQ's TCP intake and `stixgate import`; and the
//! other way round, the envelope maker, which makes envelopes from STIX objects posted over TAXII.
//!
//! Each record is validated on its own: a bad record is reported and stores nothing, the good records around
//! it are stored. Nothing is reported stored before it is durable.

mod envelope_maker;
mod settings;

pub use envelope_maker::EnvelopeMaker;
pub use settings::{IntakeSettings, IntelmqValues, MintMode};

use serde::Serialize;

use crate::envelope::{
    Envelope, IntakeRules, LocatedError, RawRecord, RecordError, StixContent, split_records,
};
use std::sync::Arc;

use serde_json::Value;

use crate::envelope::intelmq::FieldList;
use crate::envelope::intelmq::validate::check_values;
use crate::mapping::{Tables, catalog, map_envelope};
use crate::stix::Timestamp;
use crate::store::{DuplicatePolicy, NewObject, StoreResult, WriteOp, WriteOutcome, Writer};

/// What to do with incoming records.
#[derive(Debug, Clone)]
pub struct Intake {
    pub rules: IntakeRules,
    pub policy: DuplicatePolicy,
    /// The collection id records are stored into.
    pub collection: String,
    pub tables: Arc<Tables>,
    /// Whether IntelMQ payloads must hold values IntelMQ stores as they are.
    pub strict_intelmq_values: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordStatus {
    Stored,
    Duplicate,
    Error,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordReport {
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub status: RecordStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Counts over a set of [`RecordReport`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub stored: usize,
    pub duplicates: usize,
    pub errors: usize,
}

impl Tally {
    pub fn add(&mut self, reports: &[RecordReport]) {
        for report in reports {
            match report.status {
                RecordStatus::Stored => self.stored += 1,
                RecordStatus::Duplicate => self.duplicates += 1,
                RecordStatus::Error => self.errors += 1,
            }
        }
    }
}

/// The most refused records of a request reported one by one: the others are only counted
/// ([`Checked::unlisted_errors`]), so that a body of many short bad lines gets no reports (and no answer)
/// many times its size.
pub const LISTED_ERRORS: usize = 100;

/// Records validated and ready to store: nothing is written until [`Checked::store`].
#[derive(Debug)]
pub struct Checked {
    reports: Vec<RecordReport>,
    ops: Vec<WriteOp>,
    /// The first record that is STIX or TAXII content: a request holding one was sent to the wrong place.
    pub stix: Option<StixContent>,
    /// Refused records beyond the [`LISTED_ERRORS`] that have a report.
    pub unlisted_errors: usize,
}

impl Intake {
    /// Validates every record and stores the valid ones in one durable write. The reports follow the records'
    /// order.
    pub async fn store_records(
        &self,
        records: &[RawRecord<'_>],
        writer: &Writer,
    ) -> StoreResult<Vec<RecordReport>> {
        self.check_records(records).store(writer).await
    }

    /// Splits `input` (a request's body) into records and validates them, storing nothing; only the first
    /// [`LISTED_ERRORS`] refused records get a report.
    pub fn check_input(&self, input: &[u8]) -> Checked {
        match split_records(input) {
            Ok(records) => self.check_listing(&records, LISTED_ERRORS),
            Err(LocatedError { line, error }) => Checked {
                reports: vec![RecordReport::error(line, error.to_string())],
                ops: Vec::new(),
                stix: None,
                unlisted_errors: 0,
            },
        }
    }

    /// Validates every record, storing nothing; every record gets a report.
    pub fn check_records(&self, records: &[RawRecord<'_>]) -> Checked {
        self.check_listing(records, usize::MAX)
    }

    /// Validates every record, storing nothing; refused records past the first `listed` are only counted.
    fn check_listing(&self, records: &[RawRecord<'_>], listed: usize) -> Checked {
        let mut checked = Checked {
            reports: Vec::new(),
            ops: Vec::new(),
            stix: None,
            unlisted_errors: 0,
        };
        let mut errors = 0;
        for record in records {
            let parsed = Envelope::parse(record.bytes, &self.rules).inspect_err(|e| {
                if let RecordError::Stix(content) = e {
                    checked.stix.get_or_insert(*content);
                }
            });
            match parsed
                .map_err(|e| e.to_string())
                .and_then(|e| self.check(e))
            {
                Ok(envelope) => {
                    checked.reports.push(RecordReport {
                        line: record.line,
                        id: Some(envelope.id().to_string()),
                        status: RecordStatus::Stored,
                        message: None,
                    });
                    let objects = self.stix_objects(&envelope);
                    checked.ops.push(WriteOp::PutEnvelope {
                        envelope,
                        collection: self.collection.clone(),
                        policy: self.policy,
                        objects,
                    });
                }
                Err(_) if errors >= listed => checked.unlisted_errors += 1,
                Err(message) => {
                    errors += 1;
                    checked
                        .reports
                        .push(RecordReport::error(record.line, message));
                }
            }
        }
        checked
    }
}

impl Checked {
    /// Stores the valid records in one durable write and reports on every record, in the records' order.
    pub async fn store(self, writer: &Writer) -> StoreResult<Vec<RecordReport>> {
        let mut reports = self.reports;
        let outcomes = writer.write(self.ops).await?;
        let accepted = reports
            .iter_mut()
            .filter(|r| r.status == RecordStatus::Stored);
        for (report, outcome) in accepted.zip(outcomes) {
            match outcome {
                WriteOutcome::Stored { .. } | WriteOutcome::Removed | WriteOutcome::Absent => {}
                WriteOutcome::Duplicate => report.status = RecordStatus::Duplicate,
                WriteOutcome::Conflict => {
                    report.status = RecordStatus::Duplicate;
                    report.message = Some(
                        "an envelope with this id and other content is stored already; it was kept \
                         (duplicate_policy = keep-first)"
                            .to_owned(),
                    );
                }
            }
        }
        Ok(reports)
    }
}

impl Intake {
    /// Intake into the collection with the id `collection`, by the rules of `settings`.
    pub fn new(settings: &IntakeSettings, collection: String, tables: Arc<Tables>) -> Self {
        Self {
            rules: settings.rules(),
            policy: settings.duplicate_policy,
            collection,
            tables,
            strict_intelmq_values: settings.intelmq_values == IntelmqValues::Strict,
        }
    }

    /// An IntelMQ payload must flatten within its budget ([`Envelope::check_flat_payload`]); in strict mode,
    /// it must also hold values IntelMQ stores as they are.
    fn check(&self, envelope: Envelope) -> Result<Envelope, String> {
        if self.strict_intelmq_values && envelope.is_intelmq() {
            let flat = envelope.flat_payload().map_err(|e| e.to_string())?;
            let report = envelope.kind() == Some("report");
            check_values(&flat, FieldList::shared_35(), report)?;
        } else {
            envelope.check_flat_payload().map_err(|e| e.to_string())?;
        }
        Ok(envelope)
    }

    /// What the envelope is served as: its carrier, its standard objects, and the catalog that their
    /// references need (stored once: later copies are duplicates). Under `new-version`, a later version of an
    /// envelope must be a later version of its objects too, so their `modified` is the time it is stored.
    fn stix_objects(&self, envelope: &Envelope) -> Vec<NewObject> {
        let modified = (self.policy == DuplicatePolicy::NewVersion).then(Timestamp::now);
        let mapped = map_envelope(envelope, &self.tables, modified);
        if !mapped.warnings.is_empty() {
            tracing::warn!(envelope = %envelope.id(), warnings = ?mapped.warnings, "values left out of the standard objects");
        }
        std::iter::once(mapped.carrier)
            .chain(mapped.standard)
            .chain(catalog())
            .map(|object| stored_object(&object))
            .collect()
    }
}

/// A mapped object as the store keeps it.
pub fn stored_object(object: &Value) -> NewObject {
    let text = serde_json::to_vec(object).expect("JSON values serialize");
    NewObject::from_text(text).expect("the mapping writes valid common properties; tests check it")
}

impl RecordReport {
    fn error(line: usize, message: String) -> Self {
        Self {
            line,
            id: None,
            status: RecordStatus::Error,
            message: Some(message),
        }
    }
}
