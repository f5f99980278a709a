//! The data directory of `livecard up`:
//!
//! The directory is kept to its owner (0700) and so are the files in it
//! (0600): the store holds transcripts and offline messages.
//!
//! - `store.sqlite`: the embedded DynamoDB-compatible store (SQLite gives
//!   its `-wal` and `-shm` files the store file's mode);
//! - `secrets.json`: card signing keys, the session key and the visitor key,
//!   generated on first start (mode 0600);
//! - `admin.key`: the first admin API key, for the CLI (mode 0600);
//! - `running.json`: while `livecard up` runs, its URL and its store's
//!   loopback endpoint, for `livecard media-node` to join (mode 0600).

use anyhow::{Context, bail};
use livecard_app::Secrets;
use livecard_app::secrets::SecretsDocument;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SECRETS_FILE: &str = "secrets.json";
pub const ADMIN_KEY_FILE: &str = "admin.key";
pub const STORE_FILE: &str = "store.sqlite";
pub const RUNNING_FILE: &str = "running.json";

/// What a running `livecard up` tells other processes of this machine.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Running {
    /// Its public URL (the API's base).
    pub url: String,
    /// Its embedded store, on loopback.
    pub store_endpoint: String,
}

pub struct DataDir {
    pub path: PathBuf,
}

impl DataDir {
    /// Opens the data directory, creating it when it does not exist.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if path.exists() && !path.is_dir() {
            bail!("the data directory {} is not a directory", path.display());
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(path)
            .with_context(|| format!("cannot create the data directory {}", path.display()))?;
        // One made before (or by hand) may be open to others: close it.
        restrict(path, 0o700)?;
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

    /// The store file, made (empty, which SQLite takes as a new database)
    /// with mode 0600 before SQLite opens it; existing store files are
    /// closed to others too.
    pub fn prepare_store(&self) -> anyhow::Result<PathBuf> {
        let path = self.store_path();
        if !path.exists() {
            write_private(&path, b"")?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = self.path.join(format!("{STORE_FILE}{suffix}"));
            if file.exists() {
                restrict(&file, 0o600)?;
            }
        }
        Ok(path)
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
            // Written before the presence webhook, TURN or kept identity images
            // existed: add their keys.
            let missing = parsed.presence_webhook_secret.is_none()
                || parsed.turn_secret.is_none()
                || parsed.identity_image_key.is_none();
            if missing {
                let fresh = SecretsDocument::generate(&crate::ports::OsRandom);
                parsed.presence_webhook_secret = parsed
                    .presence_webhook_secret
                    .or(fresh.presence_webhook_secret);
                parsed.turn_secret = parsed.turn_secret.or(fresh.turn_secret);
                parsed.identity_image_key = parsed.identity_image_key.or(fresh.identity_image_key);
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

    /// Says where this instance runs (removed again at its stop).
    pub fn write_running(&self, running: &Running) -> anyhow::Result<()> {
        write_private(
            &self.path.join(RUNNING_FILE),
            serde_json::to_string(running)?.as_bytes(),
        )
    }

    pub fn remove_running(&self) {
        let _ = fs::remove_file(self.path.join(RUNNING_FILE));
    }

    /// Where the instance of this data directory runs.
    pub fn read_running(&self) -> anyhow::Result<Running> {
        let file = self.path.join(RUNNING_FILE);
        let text = fs::read_to_string(&file).with_context(|| {
            format!(
                "livecard up is not running on {} (no {})",
                self.path.display(),
                file.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", file.display()))
    }

    pub fn read_admin_key(&self) -> Option<String> {
        fs::read_to_string(self.admin_key_path())
            .ok()
            .map(|k| k.trim().to_owned())
    }
}

/// Takes every permission from group and others.
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .permissions()
            .mode();
        if current & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).with_context(|| {
                format!("cannot make {} private (mode {mode:o})", path.display())
            })?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
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
