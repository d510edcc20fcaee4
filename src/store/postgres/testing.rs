//! Throwaway PostgreSQL databases for tests (unit tests here and the integration tests in
//! `tests/`): not part of the product's API.
//!
//! [`TestDatabase::create`] makes a database of its own, owned by a role of its own that is
//! neither a superuser nor allowed to create databases or roles (what vendorwall is meant to
//! run as), and drops both when it is dropped. The cluster it lives in is:
//!
//! - the one named by `VENDORWALL_TEST_PG` (a superuser's URL), which `scripts/test` starts
//!   once for the whole run with `scripts/pg-test-cluster`; or else
//! - one this process starts with `scripts/pg-test-cluster` in a temporary directory, shared
//!   by the process's tests that overlap in time and torn down when the last of them drops
//!   its database.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The environment variable naming a running cluster's superuser URL.
pub const CLUSTER_ENV: &str = "VENDORWALL_TEST_PG";
/// The environment variable naming the CA certificate that cluster's TLS certificate chains to.
pub const CLUSTER_CA_ENV: &str = "VENDORWALL_TEST_PG_CA";

/// A cluster this process started; stopped and removed on drop.
struct Cluster {
    dir: PathBuf,
    admin_url: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(script()).arg("stop").arg(&self.dir).status();
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-test-cluster")
}

static LOCAL: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

fn local_cluster() -> Result<Arc<Cluster>, String> {
    let mut slot = LOCAL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = slot.upgrade() {
        return Ok(c);
    }
    let dir = std::env::temp_dir().join(format!("vw-pg-{}-{}", std::process::id(), unique()));
    let out = std::process::Command::new(script())
        .arg("start")
        .arg(&dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!("{} start failed ({})", script().display(), out.status));
    }
    let admin_url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let cluster = Arc::new(Cluster { dir, admin_url });
    *slot = Arc::downgrade(&cluster);
    Ok(cluster)
}

fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    (nanos << 16) ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A database and its owning role, dropped with this value.
pub struct TestDatabase {
    /// `postgres://ROLE@127.0.0.1:PORT/DB`, without the password.
    pub url: String,
    /// The role's password.
    pub password: String,
    /// The role (also the database's name).
    pub role: String,
    admin_url: String,
    ca_path: Option<PathBuf>,
    _cluster: Option<Arc<Cluster>>,
}

impl TestDatabase {
    /// A fresh database in the run's cluster (see the module documentation).
    pub fn create() -> Result<TestDatabase, String> {
        let (admin_url, ca_path, cluster) = match std::env::var(CLUSTER_ENV) {
            Ok(url) if !url.is_empty() => (url, std::env::var_os(CLUSTER_CA_ENV).map(PathBuf::from), None),
            _ => {
                let c = local_cluster()?;
                (c.admin_url.clone(), Some(c.dir.join("ca.crt")), Some(c))
            }
        };
        let role = format!("vw_{}_{:x}", std::process::id(), unique());
        let password = format!("{:016x}{:016x}", unique(), fastrand::u64(..));
        let mut admin = admin_client(&admin_url)?;
        // One statement at a time: CREATE DATABASE refuses to run inside a transaction, which
        // several statements in one simple query would be.
        for statement in [
            format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'"),
            format!("CREATE DATABASE {role} OWNER {role}"),
            format!("REVOKE ALL ON DATABASE {role} FROM PUBLIC"),
        ] {
            admin
                .batch_execute(&statement)
                .map_err(|e| format!("creating the test database: {}", described(&e)))?;
        }
        let at = admin_url
            .rsplit_once('@')
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split_once('/'))
            .map(|(host, _)| host)
            .ok_or("the cluster URL has no host")?;
        Ok(TestDatabase {
            url: format!("postgres://{role}@{at}/{role}"),
            password,
            role,
            admin_url,
            ca_path,
            _cluster: cluster,
        })
    }

    /// The URL with the password in it.
    pub fn url_with_password(&self) -> String {
        self.url
            .replacen(&self.role, &format!("{}:{}", self.role, self.password), 1)
    }

    /// `[store]` settings for this database: its URL and password, plain TCP, `lease`.
    pub fn config(&self, lease: std::time::Duration) -> crate::config::Database {
        crate::config::Database {
            url: crate::config::Secret::new(self.url.clone()),
            password: Some(crate::config::Secret::new(self.password.clone())),
            tls: crate::config::DatabaseTls::Disable,
            lease,
            max_connections: 4,
        }
    }

    /// The CA certificate the cluster's TLS certificate chains to (for `verify-full`).
    pub fn ca_path(&self) -> Result<&std::path::Path, String> {
        self.ca_path.as_deref().ok_or_else(|| {
            format!("{CLUSTER_ENV} is set without {CLUSTER_CA_ENV}: the cluster's certificate is unknown")
        })
    }

    /// A superuser connection to the cluster (for tests that inspect or break things).
    pub fn admin(&self) -> Result<postgres::Client, String> {
        admin_client(&self.admin_url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = admin_client(&self.admin_url) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.role));
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.role));
        }
    }
}

fn admin_client(url: &str) -> Result<postgres::Client, String> {
    postgres::Client::connect(url, postgres::NoTls)
        .map_err(|e| format!("connecting to the test cluster: {}", described(&e)))
}

/// The server's message too (test set-up statements hold no stored values).
fn described(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
