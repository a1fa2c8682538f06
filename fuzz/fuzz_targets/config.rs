//! The configuration loader (`src/config/`): `stixgate serve` and `check-config` read a TOML file over the
//! embedded default.
//!
//! Properties: loading returns the settings or an error, never a panic, and the same for the same file;
//! loaded settings have an intake collection and mapping tables and intake rules; the effective
//! configuration (`check-config --effective`) of a loadable file is written, is TOML, and shows no secret:
//! every `password`, `token` and `tokens` value in it is redacted.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stixgate::config::{REDACTED, Settings, effective};

/// One file per fuzzing process, rewritten for each input.
static FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    std::env::temp_dir().join(format!("stixgate-fuzz-config-{}.toml", std::process::id()))
});

fuzz_target!(|input: &[u8]| {
    // The loader reads the IntelMQ field files a configuration names: /dev/zero or a FIFO would never end.
    if let Ok(value) = std::str::from_utf8(input).map(toml::from_str::<toml::Value>)
        && value.as_ref().is_ok_and(names_a_device)
    {
        return;
    }
    std::fs::write(&*FILE, input).expect("the temporary directory is writable");
    let loaded = Settings::load(Some(&FILE));
    let again = Settings::load(Some(&FILE));
    assert_eq!(
        loaded.as_ref().map(drop).map_err(ToString::to_string),
        again.as_ref().map(drop).map_err(ToString::to_string),
        "loading is not deterministic"
    );
    let Ok(settings) = loaded else {
        return;
    };
    assert!(
        settings.collection(&settings.intake.collection).is_some(),
        "no intake collection"
    );
    let _ = settings.intake.rules();
    let _ = settings.mapping_tables();
    let text = effective(Some(&FILE)).expect("a loadable configuration has an effective one");
    let shown: toml::Value = toml::from_str(&text).expect("the effective configuration is TOML");
    assert_redacted(&shown, false);
});

fn names_a_device(value: &toml::Value) -> bool {
    match value {
        toml::Value::String(text) => ["/dev", "/proc", "/sys"]
            .iter()
            .any(|p| text.trim_start().starts_with(p)),
        toml::Value::Array(items) => items.iter().any(names_a_device),
        toml::Value::Table(table) => table.values().any(names_a_device),
        _ => false,
    }
}

/// Every value below a secret key is [`REDACTED`].
fn assert_redacted(value: &toml::Value, secret: bool) {
    match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                assert_redacted(
                    inner,
                    secret || ["password", "token", "tokens"].contains(&key.as_str()),
                );
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|item| assert_redacted(item, secret)),
        other if secret => assert_eq!(other.as_str(), Some(REDACTED), "a secret is shown"),
        _ => {}
    }
}
