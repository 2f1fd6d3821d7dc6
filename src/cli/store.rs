//! `laras store copy`: moves an embedded deployment into PostgreSQL: the log position for
//! position, then the state beside it (wrapped contact keys, API-key digests, sealed
//! channel tokens, the Merkle trees and heads) row for row, and the sealed media files
//! object for object.

use crate::cli::verify::progress_bar;
use crate::data_dir::DataDir;
use laras_adapters::media_folder::FolderMediaStore;
use laras_adapters::postgres_log::{is_postgres_url, Imported, PgEventStore};
use laras_adapters::postgres_state::{DataDirFiles, PgMediaStore, PgShared};
use laras_adapters::sqlite_log::SqliteEventStore;
use std::path::Path;
use std::process::ExitCode;

const PAGE: usize = 4096;

/// Copies `from`'s ledger into the database at `to`. Idempotent: what the target already
/// holds must be the same events (checked by id and hash) and is skipped.
pub async fn copy(from: &Path, to: &str) -> anyhow::Result<ExitCode> {
    if !is_postgres_url(to) {
        anyhow::bail!("--to must be a postgres:// URL");
    }
    let data = DataDir::existing(from)?;
    // No server may append to the source while it is copied.
    let _lock = data.lock_for_writing()?;
    let target = PgEventStore::open(to).await?;
    let total = SqliteEventStore::count(&data.ledger())?;
    let bar = progress_bar(total, false);
    let mut done = Imported::default();
    let mut page = Vec::with_capacity(PAGE);
    let mut scan = SqliteEventStore::scan(&data.ledger())?;
    loop {
        let next = scan.next().transpose()?;
        let end = next.is_none();
        page.extend(next);
        if page.len() == PAGE || (end && !page.is_empty()) {
            let imported = target.import(&page).await?;
            done.copied += imported.copied;
            done.already += imported.already;
            bar.inc(page.len() as u64);
            page.clear();
        }
        if end {
            break;
        }
    }
    bar.finish_and_clear();
    target.close().await;
    let (keys, access, credentials, audit) = (data.keys(), data.access(), data.credentials(), data.audit());
    let files = DataDirFiles { keys: &keys, access: &access, credentials: &credentials, audit: &audit };
    let pg = PgShared::open(to)?;
    let shared = pg.import_data_dir(&files)?;
    let media = FolderMediaStore::open(data.media())?.copy_into(&PgMediaStore::new(pg)).await?;
    println!(
        "{}",
        serde_json::json!({
            "events": total, "copied": done.copied, "already_there": done.already, "shared_state": shared, "media": media
        })
    );
    Ok(ExitCode::SUCCESS)
}
