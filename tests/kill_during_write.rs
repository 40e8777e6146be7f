//! A run killed at any moment (SIGKILL, no chance to clean up) never leaves a half-written
//! report: every output under its final name is complete, and the next run leaves no stray
//! temporary files (issue 6, "Output safety").

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use skintrack::report::Report;
use skintrack::synth::{SynthOptions, generate, write_series};

fn skintrack() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("skintrack"))
}

/// Every file under a final name is whole: JSON parses, the CSV has every row, PNGs decode,
/// the HTML is closed. Returns how many final files exist.
fn assert_complete(out: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(out) else {
        return 0;
    };
    let mut finals = 0;
    let mut report: Option<Report> = None;
    for entry in entries.flatten() {
        let name = entry.file_name().into_string().unwrap();
        if name.contains(".tmp-") {
            continue;
        }
        finals += 1;
        let bytes = std::fs::read(entry.path()).unwrap();
        match Path::new(&name).extension().and_then(|e| e.to_str()) {
            Some("json") => report = Some(serde_json::from_slice(&bytes).expect(&name)),
            Some("png") => {
                image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            Some("html") => {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.trim_end().ends_with("</html>"), "{name} is cut short");
            }
            Some("csv") => {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.ends_with('\n') && text.lines().count() > 1, "{name}");
            }
            _ => panic!("unexpected output {name}"),
        }
    }
    if let Some(report) = report {
        let csv = std::fs::read_to_string(out.join("metrics.csv"));
        if let Ok(csv) = csv {
            // Written after report.json by the same run: whole, never a prefix.
            assert_eq!(
                csv.lines().count(),
                1 + report.sessions.len() * report.metrics.len()
            );
        }
    }
    finals
}

/// Temporary files (`NAME.tmp-<pid>`) now in `out`: each exists only while a file is written.
fn temporaries(out: &Path) -> Vec<String> {
    std::fs::read_dir(out)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn killing_a_run_while_it_writes_leaves_only_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    let opts = SynthOptions {
        seed: 5,
        sessions: 3,
        width: 640,
        height: 480,
        ..Default::default()
    };
    write_series(&generate(&opts), &series).unwrap();
    let track = |out: &Path| {
        let mut cmd = skintrack();
        cmd.arg("track")
            .arg(&series)
            .args(["--px-per-mm", "20", "--out"])
            .arg(out);
        cmd
    };
    let reference = dir.path().join("reference");
    assert!(track(&reference).output().unwrap().status.success());
    let expected_files = assert_complete(&reference);

    // Kill the k-th time a new file starts being written (k = 1, 2, ...): SIGKILL lands inside
    // the writing of the report, at a different file each time.
    let out = dir.path().join("out");
    let mut killed_mid_write = 0;
    for k in 1..=expected_files {
        let mut child = track(&out).spawn().unwrap();
        let mut seen = std::collections::HashSet::new();
        let started = Instant::now();
        let killed = loop {
            if child.try_wait().unwrap().is_some() {
                break false;
            }
            seen.extend(temporaries(&out));
            if seen.len() >= k {
                child.kill().unwrap();
                break true;
            }
            assert!(started.elapsed().as_secs() < 300, "run did not finish");
            std::thread::sleep(std::time::Duration::from_micros(200));
        };
        let _ = child.wait();
        let present = assert_complete(&out);
        eprintln!("kill at file {k}: killed {killed}, {present} of {expected_files} whole files");
        if killed && present < expected_files {
            killed_mid_write += 1;
        }
        std::fs::remove_dir_all(&out).ok();
    }
    // Writing several files takes far longer than the poll: most kills must land mid-report,
    // or this test is not testing what it says.
    assert!(
        killed_mid_write >= 1,
        "no kill landed while the report was being written"
    );

    // A run into a folder with a killed run's leftovers completes and leaves no temporaries.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report.json.tmp-99999"), b"{\"half").unwrap();
    std::fs::write(out.join("report.html.tmp-12"), b"<html").unwrap();
    assert!(track(&out).output().unwrap().status.success());
    assert_eq!(assert_complete(&out), expected_files);
    assert_eq!(temporaries(&out), Vec::<String>::new());
}
