//! The data directory of `livecard up`:
//!
//! - `store.sqlite`: the embedded DynamoDB-compatible store;
//! - `secrets.json`: card signing keys, the session key and the visitor key,
//!   generated on first start (mode 0600);
//! - `admin.key`: the first admin API key, for the CLI (mode 0600).

use anyhow::{Context, bail};
use livecard_app::Secrets;
use livecard_app::secrets::SecretsDocument;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SECRETS_FILE: &str = "secrets.json";
pub const ADMIN_KEY_FILE: &str = "admin.key";
pub const STORE_FILE: &str = "store.sqlite";

pub struct DataDir {
    pub path: PathBuf,
}

impl DataDir {
    /// Opens the data directory, creating it when it does not exist.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if path.exists() && !path.is_dir() {
            bail!("the data directory {} is not a directory", path.display());
        }
        fs::create_dir_all(path)
            .with_context(|| format!("cannot create the data directory {}", path.display()))?;
        let probe = path.join(".write-test");
        fs::write(&probe, b"ok")
            .with_context(|| format!("the data directory {} is not writable", path.display()))?;
        let _ = fs::remove_file(&probe);
        Ok(Self {
            path: path.to_owned(),
        })
    }

    pub fn store_path(&self) -> PathBuf {
        self.path.join(STORE_FILE)
    }

    pub fn admin_key_path(&self) -> PathBuf {
        self.path.join(ADMIN_KEY_FILE)
    }

    /// Loads the secrets, generating them on first start. Returns whether
    /// they were new (a first start).
    pub fn secrets(&self) -> anyhow::Result<(Secrets, bool)> {
        let file = self.path.join(SECRETS_FILE);
        if file.exists() {
            let text = fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut parsed = SecretsDocument::from_json(&text).with_context(|| {
                format!(
                    "{} is not valid; restore it from a backup, or move the data directory away to start afresh",
                    file.display()
                )
            })?;
            // Written before the presence webhook or TURN existed: add them.
            let missing = parsed.presence_webhook_secret.is_none() || parsed.turn_secret.is_none();
            if missing {
                let fresh = SecretsDocument::generate(&crate::ports::OsRandom);
                parsed.presence_webhook_secret = parsed
                    .presence_webhook_secret
                    .or(fresh.presence_webhook_secret);
                parsed.turn_secret = parsed.turn_secret.or(fresh.turn_secret);
                write_private(&file, serde_json::to_string_pretty(&parsed)?.as_bytes())?;
            }
            return Ok((
                parsed
                    .into_secrets()
                    .with_context(|| format!("{} is not valid", file.display()))?,
                false,
            ));
        }
        if self.store_path().exists() {
            bail!(
                "{} is missing but the store exists: card links and sessions cannot be verified without it; \
                 restore it from a backup, or move the data directory away to start afresh",
                file.display()
            );
        }
        let fresh = SecretsDocument::generate(&crate::ports::OsRandom);
        let text = serde_json::to_string_pretty(&fresh)?;
        write_private(&file, text.as_bytes())?;
        Ok((fresh.into_secrets()?, true))
    }

    /// Writes the admin key for the CLI to find.
    pub fn write_admin_key(&self, key: &str) -> anyhow::Result<()> {
        write_private(&self.admin_key_path(), format!("{key}\n").as_bytes())
    }

    pub fn read_admin_key(&self) -> Option<String> {
        fs::read_to_string(self.admin_key_path())
            .ok()
            .map(|k| k.trim().to_owned())
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
