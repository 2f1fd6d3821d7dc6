//! `laras backup` and `laras restore`.

use crate::app::SystemClock;
use crate::data_dir::DataDir;
use crate::settings::Settings;
use laras_domain::time::Clock;
use std::path::Path;
use std::process::ExitCode;

/// Takes an online backup: the server may keep running (no writer lock is taken).
pub fn backup(settings: &Settings, out: &Path) -> anyhow::Result<ExitCode> {
    let data = DataDir::existing(&settings.data_dir)?;
    let now = SystemClock.now().0;
    let manifest = crate::backup::backup(&data, out, settings.master_key_file.is_some(), now)?;
    println!(
        "{}",
        serde_json::json!({
            "backup": out.display().to_string(),
            "files": manifest.files.keys().collect::<Vec<_>>(),
            "master_key_included": manifest.master_key_included,
        })
    );
    if !manifest.master_key_included {
        eprintln!("laras: the master key lives outside the data dir and is not in the backup; keep it safe apart");
    }
    Ok(ExitCode::SUCCESS)
}

/// Restores a backup into a new or empty data dir.
pub fn restore(file: &Path, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let manifest = crate::backup::restore(file, data_dir)?;
    println!(
        "{}",
        serde_json::json!({
            "restored_into": data_dir.display().to_string(),
            "files": manifest.files.keys().collect::<Vec<_>>(),
            "created_at_ms": manifest.created_at_ms,
            "master_key_included": manifest.master_key_included,
        })
    );
    Ok(ExitCode::SUCCESS)
}
