//! `skintrack batch` interrupted and split: a run killed with SIGKILL and re-run gives the same
//! results as an uninterrupted one without processing any finished photo again, and two shards
//! merged give the same results as one unsharded run.

mod batch_support;

use std::path::Path;
use std::time::{Duration, Instant};

use batch_support::*;

/// A clinic of `n` two- and three-session series, listed in a manifest.
fn manifest_clinic(root: &Path, n: u64) -> std::path::PathBuf {
    let mut manifest = String::from("patient,area,date,photo,notes\n");
    for i in 0..n {
        let patient = format!("p{i:02}");
        let area = if i % 2 == 0 { "forehead" } else { "cheek" };
        let folder = root.join("photos").join(&patient);
        let photos = write_series(&folder, 100 + i, 2 + (i % 2) as usize, date(2026, 1, 5));
        for (k, photo) in photos.iter().enumerate() {
            let name = photo.file_name().unwrap().to_string_lossy();
            let day = skintrack::load::date_in_name(&name).unwrap();
            manifest.push_str(&format!(
                "{patient},{area},{day},photos/{patient}/{name},\"visit {k}, depth 1.5 mm\"\n"
            ));
        }
    }
    let path = root.join("manifest.csv");
    std::fs::write(&path, manifest).unwrap();
    path
}

fn sorted_reports(out: &Path) -> Vec<(String, serde_json::Value)> {
    let conn = db(out);
    let keys = rows(&conn, "SELECT patient, area FROM series ORDER BY key");
    keys.iter()
        .map(|k| {
            let (p, a) = (unquote(&k[0]), unquote(&k[1]));
            let path = out.join(&p).join(&a).join("report.json");
            (format!("{p}/{a}"), report_without_timings(&path))
        })
        .collect()
}

fn unquote(debug: &str) -> String {
    debug
        .trim_start_matches("Text(\"")
        .trim_end_matches("\")")
        .to_string()
}

#[test]
fn a_killed_run_resumes_to_the_same_results_without_redoing_finished_photos() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest_clinic(dir.path(), 6);
    let reference = dir.path().join("reference");
    let full = batch(&manifest, &reference, &["--threads", "1"]);
    assert_eq!(full.status.code(), Some(0), "{}", stderr(&full));

    // Start again into a new folder and kill it once some photos are committed.
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("skintrack"))
        .env(
            "SKINTRACK_MODEL",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/skinseg-v1.onnx"),
        )
        .arg("batch")
        .arg(&manifest)
        .arg("--out")
        .arg(&out)
        .args(["--quiet", "--threads", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = out.join("skintrack.db").is_file()
            && rusqlite::Connection::open_with_flags(
                out.join("skintrack.db"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .ok()
            .and_then(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM work WHERE stage = 'segment'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .ok()
            })
            .is_some_and(|n| n >= 1);
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "no photo finished in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "batch ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "batch ended before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let conn = db(&out);
    let finished_before: i64 = count(&conn, "SELECT COUNT(*) FROM work WHERE stage = 'segment'");
    let total: i64 = count(
        &db(&reference),
        "SELECT COUNT(*) FROM work WHERE stage = 'segment'",
    );
    assert!(
        finished_before >= 1 && finished_before < total,
        "{finished_before} of {total}"
    );
    drop(conn);

    let resumed = batch(&manifest, &out, &["--threads", "1"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));

    // The same numbers and reports as the uninterrupted run.
    assert_eq!(metrics(&out), metrics(&reference));
    assert_eq!(sorted_reports(&out), sorted_reports(&reference));
    let summary = |o: &Path| std::fs::read(o.join("summary.csv")).unwrap();
    assert_eq!(summary(&out), summary(&reference));

    // No photo was aligned or segmented twice: every piece of work was done exactly once, the
    // photos finished before the kill by the killed run.
    let conn = db(&out);
    let twice = count(
        &conn,
        "SELECT COUNT(*) FROM (SELECT series_key, photo, stage FROM work \
         GROUP BY series_key, photo, stage HAVING COUNT(*) > 1)",
    );
    assert_eq!(twice, 0);
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM work WHERE stage = 'segment'"),
        total
    );
    let runs = rows(&conn, "SELECT id FROM runs ORDER BY started");
    assert_eq!(runs.len(), 2);
    let by_first_run = count(
        &conn,
        &format!(
            "SELECT COUNT(*) FROM work WHERE stage = 'segment' AND run_id = '{}'",
            unquote(&runs[0][0])
        ),
    );
    assert_eq!(by_first_run, finished_before, "kept, not redone");
}

#[test]
fn two_shards_merged_equal_one_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest_clinic(dir.path(), 4);
    let whole = dir.path().join("whole");
    let run = batch(&manifest, &whole, &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));

    let mut shard_dbs = Vec::new();
    let mut sizes = Vec::new();
    for k in 0..2 {
        let out = dir.path().join(format!("shard{k}"));
        let run = batch(&manifest, &out, &["--shard", &format!("{k}/2")]);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        sizes.push(count(&db(&out), "SELECT COUNT(*) FROM series"));
        shard_dbs.push(out.join("skintrack.db"));
    }
    assert_eq!(
        sizes.iter().sum::<i64>(),
        4,
        "every series in exactly one shard"
    );

    let merged = dir.path().join("merged");
    let run = skintrack()
        .arg("merge")
        .arg(&merged)
        .args(&shard_dbs)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(metrics(&merged), metrics(&whole));
    assert_eq!(sorted_reports(&merged), sorted_reports(&whole));
    for file in ["summary.csv", "summary.html"] {
        assert_eq!(
            std::fs::read(merged.join(file)).unwrap(),
            std::fs::read(whole.join(file)).unwrap(),
            "{file}"
        );
    }
    let photos = "SELECT series_key, photo, sha256, status, session FROM photos ORDER BY 1, 2";
    assert_eq!(rows(&db(&merged), photos), rows(&db(&whole), photos));

    // A bad shard argument is a usage error.
    let run = batch(&manifest, &dir.path().join("x"), &["--shard", "2/2"]);
    assert_eq!(run.status.code(), Some(2));
}
