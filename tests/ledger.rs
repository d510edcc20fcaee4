//! The ledger against someone who can write the store but lacks the master key: `serve` and
//! the commands that need the key refuse without one, and the ledger witness catches a store
//! restored from an older copy.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);

/// Runs a command that should exit by itself; kills it and fails if it is still running
/// after a generous deadline (a `serve` that started when it should have refused).
fn run_to_exit(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vendorwall");
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command kept running: {:?}", child.wait_with_output().ok());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// The command without any master key: neither the environment variable nor the config.
fn keyless(args: &[&str], config: &Path) -> Output {
    run_to_exit(
        Command::new(bin())
            .args(args)
            .arg("--config")
            .arg(config)
            .env_remove(MASTER_KEY_ENV)
            .env("VW_TEST_MP_SECRET", API_SECRET),
    )
}

fn set_key_file(config: &Path, file: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let text = text.replace(
        "master_key_file = \"master.key\"",
        &format!("master_key_file = \"{file}\""),
    );
    std::fs::write(config, text).unwrap();
}

#[test]
fn serve_and_key_commands_refuse_without_a_master_key() {
    let dir = TempDir::new("no-master-key");
    let cfg = write_config(dir.path(), "http://127.0.0.1:9", &Options::default());
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("[keys]\nmaster_key_file = \"master.key\"\n", "")).unwrap();
    for args in [&["serve"][..], &["ledger", "verify"], &["keys", "rotate", "mixpanel"]] {
        let out = keyless(args, &cfg);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?} ran without a master key");
        assert!(
            err.contains(MASTER_KEY_ENV) && err.contains("keys.master_key_file"),
            "{args:?}: the error names both settings: {err}"
        );
    }
    assert!(
        !dir.path().join("store/master.key").exists(),
        "no key was generated beside the store"
    );

    // A key file anyone else may read is refused, naming the file.
    std::fs::write(&cfg, &text).unwrap();
    let key = dir.path().join("master.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = keyless(&["serve"], &cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains(&key.display().to_string()) && err.contains("644"), "{err}");
    assert!(!err.contains(MASTER_KEY), "the key itself never appears");

    // A key file inside the store is refused too.
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    write_master_key(&dir.path().join("store/master.key"));
    set_key_file(&cfg, "store/master.key");
    let out = keyless(&["ledger", "verify"], &cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("inside the store directory"), "{err}");
}

async fn post_events(server: &Server, from: usize, to: usize) {
    let batch: Vec<serde_json::Value> = (from..to)
        .map(|i| json!({"event": "e", "properties": {"token": APP_TOKEN, "distinct_id": format!("u{i}")}}))
        .collect();
    let r = client()
        .post(format!("{}/track", server.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("data={}", form_encode(&b64(&json!(batch)))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn ledger_entries(cfg: &str) -> usize {
    cli(&["ledger", "list", "--limit", "100000", "--config", cfg])
        .1
        .lines()
        .count()
}

fn copy_store(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_restored_from_an_older_copy_is_refused_until_accepted() {
    let vendor = emulator().await;
    let dir = TempDir::new("rollback");
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            limits: "[ledger]\nwitness_path = \"witness.jsonl\"\n".into(),
            ..Options::default()
        },
    );
    let c = cfg.to_str().unwrap();
    let (store, old) = (dir.path().join("store"), dir.path().join("older-copy"));

    let mut server = Server::start(&cfg);
    post_events(&server, 0, 3).await;
    assert!(eventually(WAIT, || ledger_entries(c) == 3).await);
    server.stop();
    let (code, out, err) = cli(&["ledger", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.lines().any(|l| l.starts_with("mixpanel: ok")), "{out}");
    let witness = std::fs::read_to_string(dir.path().join("witness.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(witness.lines().last().unwrap()).unwrap();
    assert_eq!(line["destination"], "mixpanel");
    assert_eq!(line["head"].as_str().map(str::len), Some(64));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("witness.jsonl"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    copy_store(&store, &old);

    let mut server = Server::start(&cfg);
    post_events(&server, 3, 5).await;
    assert!(eventually(WAIT, || ledger_entries(c) == 5).await);
    server.stop();

    // Someone puts the older copy back: a consistent chain, but behind its witness.
    copy_store(&old, &store);
    let (code, out, _) = cli(&["ledger", "verify", "--config", c]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("mixpanel: TAMPERED") && l.contains("rolled back")),
        "{out}"
    );
    let out = run_to_exit(
        with_master_key(&mut Command::new(bin()))
            .args(["serve", "--config", c])
            .env("VW_TEST_MP_SECRET", API_SECRET),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("rolled back") && err.contains("--accept-rollback"),
        "{err}"
    );

    // Accepted on purpose: this copy's heads become the witnessed ones.
    let mut server = Server::start_with(&cfg, &["--accept-rollback"]);
    assert!(
        eventually(WAIT, || server.log().contains("accept-rollback")).await,
        "{}",
        server.log()
    );
    server.stop();
    let (code, out, _) = cli(&["ledger", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}");

    // The witness deleted: verify fails, and serve refuses.
    std::fs::remove_file(dir.path().join("witness.jsonl")).unwrap();
    let (code, out, _) = cli(&["ledger", "verify", "--config", c]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("witness file is missing"), "{out}");
    let out = run_to_exit(
        with_master_key(&mut Command::new(bin()))
            .args(["serve", "--config", c])
            .env("VW_TEST_MP_SECRET", API_SECRET),
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

#[test]
fn ledger_verify_says_when_no_witness_is_configured() {
    let dir = TempDir::new("no-witness");
    let cfg = write_config(dir.path(), "http://127.0.0.1:9", &Options::default());
    let (code, out, err) = cli(&["ledger", "verify", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("no ledger witness is configured") && out.contains("undetectable"),
        "{out}"
    );
}

fn export_subjects(cfg: &str, id: &str, out: &Path) -> (i32, String) {
    let _ = std::fs::remove_dir_all(out);
    let (code, o, e) = cli(&[
        "incident",
        "export",
        id,
        "--out",
        out.to_str().unwrap(),
        "--config",
        cfg,
    ]);
    (
        code,
        std::fs::read_to_string(out.join("subjects.csv")).unwrap_or_else(|_| format!("{o}{e}")),
    )
}

/// A new master key in a private file beside the config; returns (path, base64).
fn new_master_key(dir: &Path) -> (std::path::PathBuf, &'static str) {
    let new_key = dir.join("new.key");
    let new_b64 = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    std::fs::write(&new_key, new_b64).unwrap();
    std::fs::set_permissions(&new_key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    (new_key, new_b64)
}

/// Opens an incident on `mixpanel` over the last and next day; returns its id.
fn open_incident(key: &str, cfg: &str) -> String {
    let now = vendorwall::store::now_ms();
    let fmt = |ms: i64| vendorwall::incident::time::format_utc(ms);
    let (code, out, err) = cli_keyed(
        key,
        &[
            "incident",
            "open",
            "--destination",
            "mixpanel",
            "--from",
            &fmt(now - 86_400_000),
            "--to",
            &fmt(now + 86_400_000),
            "--config",
            cfg,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    out.lines().next().unwrap().trim().to_owned()
}

/// The first column of `subjects.csv` (the subject ids), header skipped.
fn exported_ids(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_master_online_while_serve_ingests() {
    let vendor = emulator().await;
    let dir = TempDir::new("rotate-online");
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            limits: "[ledger]\nwitness_path = \"witness.jsonl\"\n".into(),
            ..Options::default()
        },
    );
    let c = cfg.to_str().unwrap();
    let (new_key, new_b64) = new_master_key(dir.path());
    let mut server = Server::start(&cfg);
    post_events(&server, 0, 4).await;
    assert!(eventually(WAIT, || ledger_entries(c) == 4).await);

    // Ingest keeps going while the key rotates: every request acknowledged is counted.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = server.base_url.clone();
    let ingest = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut next = 4usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || next < 40 {
                let batch: Vec<serde_json::Value> = (next..next + 3)
                    .map(|i| json!({"event": "e", "properties": {"token": APP_TOKEN, "distinct_id": format!("u{i}")}}))
                    .collect();
                let r = client()
                    .post(format!("{url}/track"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("data={}", form_encode(&b64(&json!(batch)))))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "ingest continues during the rotation");
                next += 3;
            }
            next
        })
    };
    let (code, out, err) = cli(&[
        "keys",
        "rotate-master",
        "--new-key-file",
        new_key.to_str().unwrap(),
        "--config",
        c,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("a running serve is unaffected"), "{out}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = ingest.await.unwrap();
    // Every acknowledged event is delivered and recorded by the serve that kept its keys.
    assert!(
        eventually(WAIT, || ledger_entries(c) == sent).await,
        "{} of {sent} delivered",
        ledger_entries(c)
    );
    server.stop();

    // A restart with the old key is refused, naming the settings.
    let old = run_to_exit(
        with_master_key(&mut Command::new(bin()))
            .args(["serve", "--config", c])
            .env("VW_TEST_MP_SECRET", API_SECRET),
    );
    let err = String::from_utf8_lossy(&old.stderr);
    assert!(!old.status.success());
    assert!(
        err.contains("keys.master_key_env") && err.contains("rotate-master"),
        "{err}"
    );
    let (code, _, err) = cli(&["ledger", "verify", "--config", c]);
    assert_ne!(code, 0);
    assert!(err.contains("keys.master_key_env"), "{err}");
    assert!(
        !err.contains(MASTER_KEY) && !err.contains(new_b64),
        "no key in the error: {err}"
    );

    // With the new key: the ledger and the audit log verify, the rotation is on record, and
    // the export opens every id.
    let (code, out, err) = cli_keyed(new_b64, &["ledger", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.lines().any(|l| l.starts_with("mixpanel: ok")), "{out}");
    let (code, out, err) = cli_keyed(new_b64, &["audit", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = cli_keyed(new_b64, &["audit", "list", "--config", c]);
    assert!(out.contains("keys.rotate_master"), "{out}");
    let id = open_incident(new_b64, c);
    let out_dir = dir.path().join("export");
    let (code, out, err) = cli_keyed(
        new_b64,
        &[
            "incident",
            "export",
            &id,
            "--out",
            out_dir.to_str().unwrap(),
            "--config",
            c,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let mut ids = exported_ids(&std::fs::read_to_string(out_dir.join("subjects.csv")).unwrap());
    ids.sort();
    let mut expected: Vec<String> = (0..sent).map(|i| format!("u{i}")).collect();
    expected.sort();
    assert_eq!(ids, expected);

    // serve starts with the new key (the witness is keyed from the unchanged root key).
    let mut server = Server::start_keyed(&cfg, &[], new_b64);
    post_events(&server, sent, sent + 2).await;
    assert!(eventually(WAIT, || ledger_entries(c) == sent + 2).await);
    server.stop();
    let (code, out, err) = cli_keyed(new_b64, &["ledger", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_master_reseal_rewraps_everything_under_a_fresh_root() {
    let vendor = emulator().await;
    let dir = TempDir::new("rotate-reseal");
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            limits: "[ledger]\nwitness_path = \"witness.jsonl\"\n".into(),
            ..Options::default()
        },
    );
    let c = cfg.to_str().unwrap();
    let mut server = Server::start(&cfg);
    post_events(&server, 0, 4).await;
    assert!(eventually(WAIT, || ledger_entries(c) == 4).await);

    // Refused while serve runs on the store.
    let (new_key, new_b64) = new_master_key(dir.path());
    let rotate = [
        "keys",
        "rotate-master",
        "--reseal",
        "--new-key-file",
        new_key.to_str().unwrap(),
        "--config",
        c,
    ];
    let (code, out, err) = cli(&rotate);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("serve"), "{err}");
    server.stop();

    let id = open_incident(MASTER_KEY, c);
    let (code, before) = export_subjects(c, &id, &dir.path().join("before"));
    assert_eq!(code, 0, "{before}");
    assert!(before.contains("u0") && before.contains("u3"), "{before}");

    let (code, out, err) = cli(&rotate);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("4 ledger batches re-keyed") || out.contains("batches re-keyed"),
        "{out}"
    );
    assert!(out.contains("retired"), "the old witness is kept: {out}");

    // The old key opens nothing any more.
    let (code, out, _) = cli(&["ledger", "verify", "--config", c]);
    assert_eq!(code, 1, "{out}");
    let (_, stale) = export_subjects(c, &id, &dir.path().join("stale"));
    assert!(!stale.contains("u0"), "{stale}");

    // With the new key everything verifies and the export shows the real ids again.
    let (code, out, err) = cli_keyed(new_b64, &["ledger", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.lines().any(|l| l.starts_with("mixpanel: ok")), "{out}");
    let (code, out, err) = cli_keyed(new_b64, &["audit", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli_keyed(
        new_b64,
        &[
            "incident",
            "export",
            &id,
            "--out",
            dir.path().join("after").to_str().unwrap(),
            "--config",
            c,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let after = std::fs::read_to_string(dir.path().join("after/subjects.csv")).unwrap();
    assert_eq!(after, before, "the same people, unsealed with the new keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_id_swapped_between_subjects_is_not_exported_as_the_other_person() {
    let vendor = emulator().await;
    let dir = TempDir::new("swapped-id");
    let cfg = write_config(dir.path(), &vendor.base_url(), &Options::default());
    let c = cfg.to_str().unwrap();
    let mut server = Server::start(&cfg);
    post_events(&server, 0, 2).await;
    assert!(eventually(WAIT, || ledger_entries(c) == 2).await);
    server.stop();

    // Someone with write access to the store gives subject 1 subject 2's sealed id.
    let db = dir.path().join("store/vendorwall.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT id, sealed FROM ledger_subjects ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    conn.execute(
        "UPDATE ledger_subjects SET sealed = ?2 WHERE id = ?1",
        rusqlite::params![rows[0].0, rows[1].1],
    )
    .unwrap();
    drop(conn);

    let id = open_incident(MASTER_KEY, c);
    let out_dir = dir.path().join("export");
    let (code, out, err) = cli(&[
        "incident",
        "export",
        &id,
        "--out",
        out_dir.to_str().unwrap(),
        "--config",
        c,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("did not open"), "the export says so: {err}");
    assert!(
        !err.contains("u0") && !err.contains("u1"),
        "no id in the warning: {err}"
    );
    let ids = exported_ids(&std::fs::read_to_string(out_dir.join("subjects.csv")).unwrap());
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(
        ids.iter().filter(|i| i.starts_with('u')).count(),
        1,
        "the moved id is not printed for the other person: {ids:?}"
    );
    assert!(ids.iter().any(|i| i == "[unavailable]"), "{ids:?}");
    let (code, out, _) = cli(&["ledger", "verify", "--config", c]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn a_legacy_store_is_rotated_online_only_after_one_reseal() {
    use base64::Engine as _;
    use vendorwall::policy::keys::{MasterKey, StoreKeys};
    let dir = TempDir::new("rotate-legacy");
    let cfg = write_config(dir.path(), "http://127.0.0.1:9", &Options::default());
    let c = cfg.to_str().unwrap();
    // A store as builds before the root key left it: a pseudonym key sealed under the master
    // key itself.
    let raw: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(MASTER_KEY)
        .unwrap()
        .try_into()
        .unwrap();
    let master = MasterKey::from_bytes(&raw);
    let store = vendorwall::store::sqlite::SqliteStore::open(&dir.path().join("store")).unwrap();
    vendorwall::keyring::current_key(&store, &StoreKeys::legacy(&master), "mixpanel").unwrap();
    drop(store);
    let (code, out, err) = cli(&["ledger", "verify", "--config", c]);
    assert_eq!(code, 0, "the legacy store opens unchanged: {out}{err}");

    let (new_key, new_b64) = new_master_key(dir.path());
    let online = [
        "keys",
        "rotate-master",
        "--new-key-file",
        new_key.to_str().unwrap(),
        "--config",
        c,
    ];
    let (code, out, err) = cli(&online);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("--reseal"), "{err}");
    let mut reseal = online.to_vec();
    reseal.insert(2, "--reseal");
    let (code, out, err) = cli(&reseal);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("re-sealed 1 pseudonym keys"), "{out}");
    let (code, out, err) = cli_keyed(new_b64, &["ledger", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli_keyed(new_b64, &["audit", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    // Converted: the next rotation runs online.
    let other = dir.path().join("other.key");
    std::fs::write(&other, MASTER_KEY).unwrap();
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let (code, out, err) = cli_keyed(
        new_b64,
        &[
            "keys",
            "rotate-master",
            "--new-key-file",
            other.to_str().unwrap(),
            "--config",
            c,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli(&["ledger", "verify", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
}
