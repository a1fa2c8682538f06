//! `stixgate map` and `unmap`: IntelMQ to STIX and back, without a data directory.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::{ConfigFile, read_input, split_or_report};
use crate::envelope::Envelope;
use crate::mapping;

#[derive(Debug, Args)]
pub struct MapArgs {
    #[command(flatten)]
    config: ConfigFile,
    /// Files to read; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnmapArgs {
    /// The file to read; `-` reads standard input.
    file: PathBuf,
}

pub(super) fn map(args: MapArgs) -> anyhow::Result<ExitCode> {
    let settings = args.config.settings()?;
    let (rules, tables) = (settings.intake.rules(), settings.mapping_tables()?);
    let mut objects: Vec<serde_json::Value> = Vec::new();
    let mut failed = false;
    for file in &args.files {
        let input = read_input(file)?;
        let Some(records) = split_or_report(file, &input) else {
            failed = true;
            continue;
        };
        for record in records {
            let envelope = match Envelope::parse(record.bytes, &rules) {
                Ok(envelope) => envelope,
                Err(error) => {
                    eprintln!("{}:line {}: {error}", file.display(), record.line);
                    failed = true;
                    continue;
                }
            };
            let mapped = mapping::map_envelope(&envelope, &tables, None);
            for warning in &mapped.warnings {
                eprintln!(
                    "{}:line {}: warning: {warning}",
                    file.display(),
                    record.line
                );
            }
            objects.extend(std::iter::once(mapped.carrier).chain(mapped.standard));
        }
    }
    objects.extend(mapping::catalog());
    let mut seen = std::collections::HashSet::new();
    objects.retain(|object| seen.insert(object["id"].to_string()));
    let bundle = serde_json::json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": objects,
    });
    println!("{}", serde_json::to_string_pretty(&bundle)?);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) fn unmap(args: UnmapArgs) -> anyhow::Result<ExitCode> {
    let input = read_input(&args.file)?;
    let texts = stix_objects(&input).with_context(|| {
        format!(
            "{} is not a STIX bundle, a TAXII envelope or a JSON list of objects",
            args.file.display()
        )
    })?;
    let objects: Vec<serde_json::Value> = texts
        .iter()
        .filter_map(|t| serde_json::from_str(t.get()).ok())
        .collect();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut failed = false;
    for text in texts {
        match mapping::unmap(text.get().as_bytes(), &objects) {
            Ok(mapping::Unmapped::Carrier(envelope) | mapping::Unmapped::Foreign(envelope)) => {
                out.write_all(envelope.text())?;
                out.write_all(b"\n")?;
            }
            Ok(mapping::Unmapped::Skipped) => {}
            Err(error) => {
                eprintln!(
                    "{}: object {}: {error}",
                    args.file.display(),
                    object_id(text.get())
                );
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The exact texts of the objects of a bundle, a TAXII envelope, a JSON array, or one object.
fn stix_objects(input: &[u8]) -> anyhow::Result<Vec<&serde_json::value::RawValue>> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Container<'a> {
        #[serde(borrow)]
        objects: Option<Vec<&'a RawValue>>,
        #[serde(rename = "type")]
        object_type: Option<String>,
    }
    let input = input.trim_ascii();
    serde_json::from_slice::<serde::de::IgnoredAny>(input).context("it is not JSON")?;
    if input.starts_with(b"[") {
        return serde_json::from_slice(input).context("a list must hold JSON objects");
    }
    let container: Container = serde_json::from_slice(input).context("it is not a JSON object")?;
    match (container.objects, container.object_type) {
        (Some(objects), _) => Ok(objects),
        (None, Some(t)) if t != "bundle" => Ok(vec![serde_json::from_slice(input)?]),
        _ => Ok(Vec::new()),
    }
}

fn object_id(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|o| o["id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "(without id)".to_owned())
}
