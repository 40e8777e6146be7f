//! `report.html` in a real browser: `skintrack synth` makes a small series, `skintrack track`
//! reports on it, and headless Chromium (Debian's `chromium`) opens a copy of the page with a
//! check script added. Every image must decode, every `<use>` must point at a picture, the
//! page's own script must have run (sliders move the cut) and nothing may reach the console.
//!
//! Without Chromium the test prints why and passes, unless `SKINTRACK_REQUIRE_BROWSER=1`
//! (set by `.ci/run`), when it fails. `SKINTRACK_CHROMIUM=PATH` picks the browser binary.

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// Sessions in the synthetic series: the baseline and two later ones.
const SESSIONS: usize = 3;
/// Chromium gets this long (startup included) before the test gives up on it.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// Goes first in `<head>`: records script errors, failed resource loads and console.error
/// calls, whatever their source.
const HOOK: &str = "<script>window.__checkErrors=[];\
window.addEventListener('error',function(e){window.__checkErrors.push(String(e.message||('cannot load '+(e.target&&(e.target.src||e.target.href&&e.target.href.baseVal)||'a resource'))).slice(0,200))},true);\
window.addEventListener('unhandledrejection',function(e){window.__checkErrors.push('unhandled rejection: '+e.reason)});\
var __checkConsoleError=console.error;console.error=function(){window.__checkErrors.push(Array.prototype.join.call(arguments,' '));__checkConsoleError.apply(console,arguments)};\
</script>";

/// Goes last in `<body>`, after the page's own script: decodes every picture, resolves every
/// `<use>`, moves each slider, measures the shown photos, and writes the result as JSON into
/// `<pre id="skintrack-check">` for `--dump-dom`.
const CHECK: &str = r#"<script>
(async function () {
  var r = { images: 0, decoded: 0, broken: [], uses: 0, unresolved: [], js: false,
            sliders: 0, moved: 0, shown_photos: 0, errors: [] };
  var sources = [];
  document.querySelectorAll('img').forEach(function (i) { sources.push(i.currentSrc || i.src); });
  document.querySelectorAll('image').forEach(function (i) {
    sources.push(i.getAttribute('href') || i.getAttribute('xlink:href') || '');
  });
  r.images = sources.length;
  for (var k = 0; k < sources.length; k++) {
    // onload rather than decode(): decode() never settles under --virtual-time-budget.
    var ok = await new Promise(function (resolve) {
      var probe = new Image();
      probe.onload = function () { resolve(probe.naturalWidth > 0 && probe.naturalHeight > 0); };
      probe.onerror = function () { resolve(false); };
      probe.src = sources[k];
    });
    if (ok) r.decoded++; else r.broken.push(k);
  }
  document.querySelectorAll('use').forEach(function (u) {
    r.uses++;
    var href = u.getAttribute('href') || '';
    if (href.charAt(0) !== '#' || !document.getElementById(href.slice(1))) r.unresolved.push(href);
  });
  r.js = document.documentElement.classList.contains('js');
  document.querySelectorAll('.compare').forEach(function (c) {
    r.sliders++;
    var slider = c.querySelector('.slider');
    var width = Number(c.getAttribute('data-width'));
    slider.value = '200';
    slider.dispatchEvent(new Event('input'));
    var cut = Number(c.querySelector('.cut').getAttribute('width'));
    if (Math.abs(cut - width * 0.2) < 1) r.moved++;
  });
  document.querySelectorAll('.views .pair svg.photo').forEach(function (s) {
    var box = s.getBoundingClientRect();
    if (box.width > 0 && box.height > 0) r.shown_photos++;
  });
  r.errors = window.__checkErrors;
  var out = document.createElement('pre');
  out.id = 'skintrack-check';
  out.textContent = JSON.stringify(r);
  document.body.appendChild(out);
})();
</script>"#;

/// The browser to use: `SKINTRACK_CHROMIUM`, else the first Chromium-like binary on PATH.
fn find_browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SKINTRACK_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs).find_map(|dir| {
        [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
    })
}

fn skintrack(args: &[&str]) {
    let run = Command::cargo_bin("skintrack")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "skintrack {args:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Headless Chromium's serialised DOM of `page` after scripts ran, and its log (stderr).
fn dump_dom(browser: &Path, page: &Path, profile: &Path) -> (String, String) {
    let out_path = profile.join("dom.html");
    let err_path = profile.join("browser.log");
    let mut child = Process::new(browser)
        .args([
            "--headless",
            // CI runs as root, where Chromium's sandbox cannot start; the page is our own file.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            // Virtual time: the page's async checks finish without a wall-clock wait.
            "--virtual-time-budget=10000",
            "--window-size=1280,2400",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.join("profile").display()
        ))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(&err_path).unwrap_or_default();
            assert!(
                status.success(),
                "{} failed: {status}\n{log}",
                browser.display()
            );
            break;
        }
        if start.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish within {BROWSER_TIMEOUT:?}",
                browser.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        std::fs::read_to_string(&out_path).unwrap(),
        std::fs::read_to_string(&err_path).unwrap_or_default(),
    )
}

/// The text of `<pre id="skintrack-check">` in the dumped DOM, unescaped.
fn check_result(dom: &str) -> serde_json::Value {
    let start = dom.find("<pre id=\"skintrack-check\">").unwrap_or_else(|| {
        panic!(
            "the check script did not finish:\n{}",
            &dom[dom.len().saturating_sub(2000)..]
        )
    }) + "<pre id=\"skintrack-check\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn report_html_loads_every_image_without_console_errors() {
    let required = std::env::var("SKINTRACK_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let Some(browser) = find_browser() else {
        assert!(
            !required,
            "SKINTRACK_REQUIRE_BROWSER=1 but no chromium on PATH (install Debian's `chromium`)"
        );
        eprintln!(
            "SKIPPED: report_html_loads_every_image_without_console_errors needs headless \
             Chromium (Debian package `chromium`, or SKINTRACK_CHROMIUM=PATH); none found"
        );
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    let out = dir.path().join("out");
    skintrack(&[
        "synth",
        "--out",
        series.to_str().unwrap(),
        "--size",
        "640x480",
        "--sessions",
        &SESSIONS.to_string(),
    ]);
    skintrack(&[
        "track",
        series.to_str().unwrap(),
        "--px-per-mm",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();

    // The page as written, plus the error hook first and the check last.
    assert_eq!(page.matches("<head>").count(), 1);
    assert_eq!(page.matches("</body>").count(), 1);
    let checked = page
        .replacen("<head>", &format!("<head>{HOOK}"), 1)
        .replacen("</body>", &format!("{CHECK}</body>"), 1);
    let checked_path = out.join("report.checked.html");
    std::fs::write(&checked_path, checked).unwrap();

    let start = Instant::now();
    let (dom, log) = dump_dom(&browser, &checked_path, dir.path());
    eprintln!("chromium: {:.1} s", start.elapsed().as_secs_f64());
    let r = check_result(&dom);
    eprintln!("check: {r}");

    // Two pictures (photo, overlay) per session, each decoded by the browser.
    assert_eq!(r["images"], 2 * SESSIONS, "{r}");
    assert_eq!(r["decoded"], r["images"], "{r}");
    assert!(
        r["uses"].as_u64().unwrap() > 0 && r["unresolved"].as_array().unwrap().is_empty(),
        "{r}"
    );
    // The page script ran: one slider per later session, each moves its cut.
    assert_eq!(r["js"], true, "{r}");
    assert_eq!(r["sliders"], SESSIONS - 1, "{r}");
    assert_eq!(r["moved"], r["sliders"], "{r}");
    // Side-by-side view by default: baseline and session photo per later session, laid out.
    assert_eq!(r["shown_photos"], 2 * (SESSIONS - 1), "{r}");
    assert!(
        r["errors"].as_array().unwrap().is_empty(),
        "page errors: {r}"
    );
    // Chromium logs every console message (any level) as `CONSOLE`; the page must log none.
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
}
