//! Crash safety: `serve` under continuous load is killed with SIGKILL at random points,
//! several times. After a restart every event an SDK was told was taken is delivered, and
//! no event is delivered under two different `$insert_id`s.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// One request a client keeps sending until it is acknowledged, as SDKs do.
#[derive(Clone)]
struct Pending {
    seqs: Vec<u64>,
    body: String,
}

fn request(first_seq: u64, n: u64) -> Pending {
    let events: Vec<Value> = (first_seq..first_seq + n)
        .map(|s| {
            // Half the events carry an $insert_id (browser, python), half none (node).
            let mut props = json!({"token": APP_TOKEN, "distinct_id": format!("user-{}", s % 97), "seq": s, "payload": "x".repeat(200)});
            if s % 2 == 0 {
                props["$insert_id"] = json!(format!("ins-{s}"));
                props["time"] = json!(1_763_000_000 + s);
            }
            json!({"event": "Load", "properties": props})
        })
        .collect();
    Pending {
        seqs: (first_seq..first_seq + n).collect(),
        body: format!("data={}", form_encode(&b64(&json!(events)))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let vendor = emulator().await;
    let dir = TempDir::new("crash");
    let cfg = write_config(dir.path(), &vendor.base_url(), &Options::default());
    let acked: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let next_seq = Arc::new(Mutex::new(0u64));
    let mut unacked: Vec<Pending> = Vec::new();
    let mut rng = rand_u64();

    for round in 0..5 {
        let server = Server::start(&cfg);
        let base = server.base_url.clone();
        let retry = Arc::new(Mutex::new(std::mem::take(&mut unacked)));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut clients = Vec::new();
        for _ in 0..4 {
            let (base, acked, next_seq, retry, stop) = (
                base.clone(),
                acked.clone(),
                next_seq.clone(),
                retry.clone(),
                stop.clone(),
            );
            clients.push(tokio::spawn(async move {
                let http = client();
                let mut failed = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let req = retry.lock().unwrap().pop().unwrap_or_else(|| {
                        let mut n = next_seq.lock().unwrap();
                        let r = request(*n, 10);
                        *n += 10;
                        r
                    });
                    let ok = match http
                        .post(format!("{base}/track/?verbose=1"))
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(req.body.clone())
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => r
                            .text()
                            .await
                            .map(|t| t == r#"{"status":1,"error":null}"#)
                            .unwrap_or(false),
                        _ => false,
                    };
                    if ok {
                        acked.lock().unwrap().extend(req.seqs.iter().copied());
                    } else {
                        failed.push(req);
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                failed
            }));
        }
        // Kill at a random point of the load.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let kill_after = Duration::from_millis(300 + rng % 900);
        tokio::time::sleep(kill_after).await;
        let mut server = server;
        server.kill();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in clients {
            unacked.extend(c.await.unwrap());
        }
        unacked.extend(retry.lock().unwrap().drain(..));
        eprintln!(
            "round {round}: killed after {kill_after:?}, {} acknowledged so far, {} requests to resend",
            acked.lock().unwrap().len(),
            unacked.len()
        );
    }

    // Restart once more; clients resend what was never acknowledged.
    let server = Server::start(&cfg);
    for req in unacked.drain(..) {
        let r = client()
            .post(format!("{}/track/?verbose=1", server.base_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(req.body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        acked.lock().unwrap().extend(req.seqs);
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 200, "the load should have got through: {}", acked.len());

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut ids: HashMap<u64, BTreeSet<String>> = HashMap::new();
    loop {
        ids.clear();
        for r in vendor.received() {
            if let Some(seq) = r.record["properties"]["seq"].as_u64() {
                ids.entry(seq)
                    .or_default()
                    .insert(r.insert_id().unwrap_or("").to_owned());
            }
        }
        if acked.iter().all(|s| ids.contains_key(s)) || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let missing: Vec<_> = acked.iter().filter(|s| !ids.contains_key(s)).take(10).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but never delivered: {missing:?} (of {})",
        acked.len()
    );
    // The ledger agrees with the outbox: the queue is empty, every acknowledged event has its
    // entry (a crash between the vendor's answer and the commit means a redelivery, recorded
    // once then), the vendor got at least as many copies, and the hash chain verifies.
    let cfg_s = cfg.to_str().unwrap();
    let entries = wait_until_delivered(&cfg, "mixpanel", acked.len(), Duration::from_secs(20)).await;
    assert!(
        entries >= acked.len(),
        "ledger has {entries} entries for {} acknowledged events",
        acked.len()
    );
    assert!(entries <= vendor.received().len());
    let (code, out, _) = cli(&["ledger", "verify", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("mixpanel: ok"), "{out}");
    drop(server);

    for (seq, set) in &ids {
        assert_eq!(set.len(), 1, "event {seq} delivered under several $insert_ids: {set:?}");
        if seq % 2 == 0 {
            assert!(
                set.contains(&format!("ins-{seq}")),
                "event {seq} lost its own $insert_id: {set:?}"
            );
        }
    }
}

/// The vendor has acknowledged a batch, but the transaction that writes its ledger entries
/// and removes it from the outbox cannot commit (another process holds the store's write
/// lock) when `serve` is killed. After a restart the batch is delivered again under the same
/// `$insert_id`s and recorded once: ledger and outbox agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_the_vendors_acknowledgement_and_the_ledger_write() {
    let vendor = emulator().await;
    let dir = TempDir::new("ack-crash");
    let cfg = write_config(dir.path(), &vendor.base_url(), &Options::default());
    let cfg_s = cfg.to_str().unwrap();
    let db = dir.path().join("store").join("vendorwall.db");
    let mut server = Server::start(&cfg);

    // The vendor holds the first delivery for 2 s before taking it and answering 200.
    vendor
        .set_fault(vendorwall::emulator::Fault::Delay(Duration::from_secs(2)))
        .await;
    let n = 25u64;
    let r = client()
        .post(format!("{}/track", server.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(request(0, n).body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    // While the vendor waits, this process (not serve) takes the store's write lock and
    // keeps it; SQLite's file locks hold between processes.
    let locker = WriteLock::take(&db);
    vendor.set_fault(vendorwall::emulator::Fault::None).await;
    // The vendor takes the batch and answers 200; the ledger write is stuck behind the lock.
    // Whether serve has read the answer or not when it is killed, the batch is unrecorded.
    let answered = eventually(Duration::from_secs(10), || {
        vendor.received().len() as u64 >= n && vendor.requests().iter().any(|r| r.status == 200 && r.records > 0)
    })
    .await;
    assert!(answered, "{:?}", vendor.requests());
    server.kill();
    drop(locker);

    let (_, out, _) = cli(&["ledger", "list", "--config", cfg_s]);
    assert_eq!(out.lines().count(), 0, "nothing was recorded before the crash: {out}");
    let server = Server::start(&cfg);
    assert!(eventually(Duration::from_secs(15), || vendor.received().len() as u64 >= 2 * n).await);
    let entries = wait_until_delivered(&cfg, "mixpanel", n as usize, Duration::from_secs(10)).await;
    assert_eq!(
        entries as u64, n,
        "each acknowledged record is in the ledger exactly once"
    );
    // The vendor got the batch twice, under the same $insert_ids (it deduplicates on them).
    let mut ids: HashMap<String, usize> = HashMap::new();
    for r in vendor.received() {
        *ids.entry(r.insert_id().unwrap_or_default().to_owned()).or_default() += 1;
    }
    assert_eq!(ids.len() as u64, n, "{ids:?}");
    assert!(ids.values().all(|&c| c == 2));
    let (code, out, _) = cli(&["ledger", "verify", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}");
    drop(server);
}

/// Another connection's `BEGIN IMMEDIATE` on a store, held on its own thread until dropped.
struct WriteLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WriteLock {
    /// Takes the write lock of the SQLite database at `db`; returns once it is held.
    fn take(db: &std::path::Path) -> WriteLock {
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let db = db.to_owned();
        let thread = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).expect("open the store");
            conn.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
            conn.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
            locked_tx.send(()).expect("report the lock");
            // Held until the test drops the lock (or ends).
            let _ = release_rx.recv();
            let _ = conn.execute_batch("ROLLBACK");
        });
        locked_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the write lock was not taken");
        WriteLock {
            release: Some(release_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
