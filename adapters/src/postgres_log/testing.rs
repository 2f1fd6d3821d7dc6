//! A database of its own for each test, on the server named by `LARAS_TEST_DATABASE_URL`.

use super::{config, storage};
use laras_commands::store::StoreError;

pub const TEST_DATABASE_URL: &str = "LARAS_TEST_DATABASE_URL";

/// A fresh database, dropped (with whatever connections remain) when this is dropped.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// The URL of the fresh database.
    pub url: String,
}

impl TestDatabase {
    /// `None`, after printing one line saying why, when no server is named.
    pub async fn create(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var(TEST_DATABASE_URL) else {
            println!(
                "skipped {test}: {TEST_DATABASE_URL} is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
            );
            return None;
        };
        let name = format!("laras_test_{}", uuid::Uuid::new_v4().simple());
        match Self::make(&admin_url, &name).await {
            Ok(url) => Some(Self { admin_url, name, url }),
            Err(e) => panic!("{TEST_DATABASE_URL} is set but no test database could be created: {e}"),
        }
    }

    async fn make(admin_url: &str, name: &str) -> Result<String, StoreError> {
        let admin = super::connect(&config(admin_url)?).await?;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.map_err(storage)?;
        let mut url = reqwest::Url::parse(admin_url).map_err(storage)?;
        url.set_path(&format!("/{name}"));
        Ok(url.to_string())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime: the database is dropped on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(storage)?;
            runtime.block_on(async {
                let admin = super::connect(&config(&admin_url)?).await?;
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.map_err(storage)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
