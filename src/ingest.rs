//! Intake of envelopes and bare IntelMQ events, shared by `POST /envelopes` and `stixgate import`.
//!
//! Each record is validated on its own: a bad record is reported and stores nothing, the good records around
//! it are stored. Nothing is reported stored before it is durable.

use serde::Serialize;

use crate::envelope::{Envelope, IntakeRules, LocatedError, RawRecord, split_records};
use crate::mapping::Carrier;
use crate::stix::Timestamp;
use crate::store::{DuplicatePolicy, NewObject, StoreResult, WriteOp, WriteOutcome, Writer};

/// What to do with incoming records.
#[derive(Debug, Clone)]
pub struct Intake {
    pub rules: IntakeRules,
    pub policy: DuplicatePolicy,
    /// The collection id records are stored into.
    pub collection: String,
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

impl Intake {
    /// Splits `input` into records and stores them; see [`Intake::store_records`].
    pub async fn store_input(
        &self,
        input: &[u8],
        writer: &Writer,
    ) -> StoreResult<Vec<RecordReport>> {
        match split_records(input) {
            Ok(records) => self.store_records(&records, writer).await,
            Err(LocatedError { line, error }) => {
                Ok(vec![RecordReport::error(line, error.to_string())])
            }
        }
    }

    /// Validates every record and stores the valid ones in one durable write. The reports follow the records'
    /// order.
    pub async fn store_records(
        &self,
        records: &[RawRecord<'_>],
        writer: &Writer,
    ) -> StoreResult<Vec<RecordReport>> {
        let mut reports = Vec::with_capacity(records.len());
        let mut ops = Vec::new();
        for record in records {
            match Envelope::parse(record.bytes, &self.rules) {
                Ok(envelope) => {
                    reports.push(RecordReport {
                        line: record.line,
                        id: Some(envelope.id().to_string()),
                        status: RecordStatus::Stored,
                        message: None,
                    });
                    let carrier = self.carrier(&envelope);
                    ops.push(WriteOp::PutEnvelope {
                        envelope,
                        collection: self.collection.clone(),
                        policy: self.policy,
                        carrier: Some(carrier),
                    });
                }
                Err(error) => reports.push(RecordReport::error(record.line, error.to_string())),
            }
        }
        let outcomes = writer.write(ops).await?;
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
    /// The carrier to serve the envelope as. Under `new-version`, a later version of an envelope must
    /// be a later version of its carrier too, so its `modified` is the time it is stored.
    fn carrier(&self, envelope: &Envelope) -> NewObject {
        let mut carrier = Carrier::of(envelope);
        if self.policy == DuplicatePolicy::NewVersion {
            carrier = carrier.modified_at(Timestamp::now());
        }
        NewObject {
            id: carrier.id,
            version: carrier.modified.micros(),
            version_text: carrier.modified_text,
            text: carrier.text,
        }
    }
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
