//! The PostgreSQL store from the outside: a configuration file naming a database passes
//! `check-config` and opens that database over verified TLS; the commands that still need
//! the embedded store refuse it, naming the setting, without a word of the password.

use std::path::{Path, PathBuf};
use std::process::Command;

use vendorwall::store::postgres::PgStore;
use vendorwall::store::postgres::testing::TestDatabase;
use vendorwall::store::{DestinationState, DestinationStore};

use crate::support::*;

const PASSWORD_ENV: &str = "VW_TEST_DB_PASSWORD";

/// The gateway configuration of the other tests, its `[store]` a database.
fn database_config(dir: &Path, db: &TestDatabase) -> PathBuf {
    let path = write_config(dir, "http://127.0.0.1:9", &Options::default());
    let text = std::fs::read_to_string(&path).unwrap();
    let store = format!(
        "[store]\nurl = \"{}\"\npassword = \"${{{PASSWORD_ENV}}}\"\ntls_mode = \"verify-full\"\ntls_ca_path = \"{}\"\nlease_secs = 10\n",
        db.url,
        db.ca_path().unwrap().display()
    );
    let replaced = text.replace("[store]\npath = \"store\"\n", &store);
    assert_ne!(replaced, text, "the configuration's [store] section moved");
    std::fs::write(&path, replaced).unwrap();
    path
}

fn run(db: &TestDatabase, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .env(MASTER_KEY_ENV, MASTER_KEY)
        .env("VW_TEST_MP_SECRET", API_SECRET)
        .env(PASSWORD_ENV, &db.password)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_database_configuration_is_checked_and_opens_the_database_over_tls() {
    let db = TestDatabase::create().unwrap();
    let dir = TempDir::new("pg-config");
    let path = database_config(dir.path(), &db);
    let (code, stdout, stderr) = run(&db, &["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(": ok ("), "{stdout}");

    // The same file, as every command reads it, opens the database.
    let text = std::fs::read_to_string(&path).unwrap();
    let env = |k: &str| match k {
        PASSWORD_ENV => Some(db.password.clone()),
        "VW_TEST_MP_SECRET" => Some(API_SECRET.to_owned()),
        _ => None,
    };
    let cfg = vendorwall::config::parse(&text, dir.path(), &env).unwrap();
    let database = cfg.store.database.as_ref().expect("a database store");
    let master =
        vendorwall::policy::keys::MasterKey::load_file(&dir.path().join("master.key"), &cfg.store.path).unwrap();
    let store = PgStore::open(database, &master).unwrap();
    store
        .set_destination_state("mixpanel", DestinationState::Suspended, 1)
        .unwrap();
    let again = PgStore::open(database, &master).unwrap();
    assert_eq!(
        again.destination_statuses().unwrap()[0].state,
        DestinationState::Suspended
    );

    // Without the password variable the file is refused, naming the variable.
    let out = Command::new(bin())
        .env("VW_TEST_MP_SECRET", API_SECRET)
        .env_remove(PASSWORD_ENV)
        .args(["check-config", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("store.url") || stderr.contains("store.password"),
        "{stderr}"
    );
    assert!(stderr.contains(PASSWORD_ENV), "{stderr}");
}

#[test]
fn commands_that_need_the_embedded_store_refuse_a_database_naming_the_setting() {
    let db = TestDatabase::create().unwrap();
    let dir = TempDir::new("pg-refuse");
    let path = database_config(dir.path(), &db);
    let config = path.to_str().unwrap();
    for args in [
        vec!["serve", "--config", config],
        vec!["destination", "list", "--config", config],
        vec!["ledger", "verify", "--config", config],
    ] {
        let (code, stdout, stderr) = run(&db, &args);
        assert_ne!(code, 0, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("store.url") && stderr.contains("PostgreSQL store"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains(&db.password) && !stdout.contains(&db.password));
    }
    // Nothing was created where an embedded store would have gone.
    assert!(!dir.path().join("var").exists());
}
