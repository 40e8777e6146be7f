//! write_all on fabricated series: files, formats, escaping, atomicity.

use std::fs;

use image::{GrayImage, Luma, RgbImage};

use super::*;
use crate::definitions::{CLASS_LINE, CLASS_SCAR, ClassMap};

/// Values per metric and session for the fabricated series.
const METRICS: [(&str, &str, [f64; 3]); 3] = [
    ("scar_area_pct", "%", [4.0, 3.0, 2.5]),
    ("line_length_mm_per_cm2", "mm per cm²", [12.0, 11.5, 9.0]),
    ("roughness", "L*", [0.0, 0.5, 0.25]),
];

/// Skin-coloured gradient with a diagonal fine line and a scar blob whose size shrinks
/// over the sessions; the last session misses a strip on the right (valid mask).
fn fabricated_visuals(session: usize, width: u32, height: u32) -> SessionVisuals {
    // Gradient plus a fixed hash "texture", so JPEG and PNG sizes are realistic.
    let aligned = RgbImage::from_fn(width, height, |x, y| {
        let grain = ((x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 13) as u8;
        image::Rgb([
            194 - (y * 40 / height) as u8 + grain,
            150 + (x * 30 / width) as u8 + grain,
            120 + grain,
        ])
    });
    let thickness = (width / 300).max(1) as i64;
    let r = (height / 5).saturating_sub(session as u32 * height / 20) as i64;
    let (cx, cy) = (width as i64 * 2 / 3, height as i64 / 2);
    let classes: ClassMap = GrayImage::from_fn(width, height, |x, y| {
        let (dx, dy) = (x as i64 - cx, y as i64 - cy);
        if dx * dx + dy * dy <= r * r {
            Luma([CLASS_SCAR])
        } else if (x as i64 - y as i64).abs() < thickness && x < width / 2 {
            Luma([CLASS_LINE])
        } else {
            Luma([0])
        }
    });
    let strip = if session == 2 { width / 8 } else { 0 };
    let valid = GrayImage::from_fn(width, height, |x, _| {
        Luma([if x + strip < width { 255 } else { 0 }])
    });
    let overlay = draw_overlay(&aligned, &classes, &valid);
    SessionVisuals {
        aligned,
        overlay,
        valid,
    }
}

fn fabricated(
    series: &str,
    sessions: usize,
    width: u32,
    height: u32,
) -> (Report, Vec<SessionVisuals>) {
    let dates = ["2024-01-10", "2024-02-14", "2024-04-02"];
    let session_reports = (0..sessions)
        .map(|i| SessionReport {
            index: i,
            input: format!("IMG_{:04}.jpg", 100 + i),
            date: Some(dates[i].to_string()),
            date_source: "exif".to_string(),
            size: [width, height],
            label: (i == 1).then(|| "treatment 1".to_string()),
            notes: (i == 1).then(|| "needle depth 1.5 mm".to_string()),
            alignment: (i > 0).then(|| AlignmentReport {
                later_to_baseline: Homography([
                    [1.01, 0.02, 3.5],
                    [-0.02, 0.99, -2.0],
                    [0.0, 0.0, 1.0],
                ]),
                matches: 400 + i,
                inliers: 350 - 100 * (i - 1),
                rms_px: 0.8 * i as f64,
                overlap: 0.97 - 0.1 * i as f64,
                correlation: 0.93 - 0.2 * (i - 1) as f64,
                status: if i == 1 { "ok" } else { "poor" }.to_string(),
                reason: (i == 2).then(|| "few inliers <50%".to_string()),
                via_session: (i == 2).then_some(1),
            }),
            lighting: (i > 0).then(|| LightingReport {
                gain: [1.02, 0.98, 1.0],
                offset: [-2.0, 1.5, 0.0],
                fit_pixels: 2500,
                source: "plain_skin".into(),
            }),
            overlay: format!("overlay_{i:02}.png"),
            redness_recovered: (i > 0).then_some(i == 2),
            focus: None,
            scar_turnover: (i > 0).then(Default::default),
        })
        .collect();
    let floor = NoiseFloor {
        relative_pct: 3.0,
        absolute: 0.0,
    };
    let metrics = METRICS
        .iter()
        .map(|(name, unit, values)| MetricSeries {
            name: name.to_string(),
            unit: unit.to_string(),
            values: (0..sessions)
                .map(|i| {
                    let delta = values[i] - values[0];
                    MetricValue {
                        session: i,
                        value: values[i],
                        delta,
                        delta_pct: (values[0] != 0.0).then(|| delta / values[0] * 100.0),
                        delta_prev: (i > 0).then(|| values[i] - values[i - 1]),
                        delta_prev_pct: (i > 0 && values[i - 1] != 0.0)
                            .then(|| (values[i] - values[i - 1]) / values[i - 1] * 100.0),
                        within_noise: (i > 0).then(|| floor.contains(delta, values[0])),
                        within_noise_prev: None,
                    }
                })
                .collect(),
            noise_floor: Some(floor.clone()),
            reads_focus: crate::measure::reads_focus(name),
            trend: (sessions >= 3).then(|| Trend {
                slope_per_30_days: (values[2] - values[0]) / 2.0,
                ci95: [values[2] - values[0], 0.0],
                sessions: 3,
                clear: false,
                span_days: 83.0,
                within_noise: None,
            }),
        })
        .collect();
    let report = Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "skintrack".to_string(),
            version: crate::VERSION.to_string(),
        },
        model: ModelInfo {
            name: "skinseg-tiny".to_string(),
            version: "0.1.0".to_string(),
            sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_string(),
            file: "skinseg-tiny.onnx".to_string(),
            class_bias: None,
            scar_core_margin: None,
            line_bridge_margin: None,
        },
        series: series.to_string(),
        scale: ScaleInfo {
            px_per_mm: Some(12.5),
            source: "user".to_string(),
            target: None,
        },
        roi: Some([4, 4, width - 8, height - 8]),
        common_region: RegionInfo {
            pixels: (width as u64 * height as u64) * 7 / 8,
            fraction_of_baseline: 0.875,
            non_skin_px: 0,
            skin_segmented: false,
        },
        sessions: session_reports,
        metrics,
        notes: Vec::new(),
        timings_ms: StageTimings {
            load: 120.0,
            align: 840.5,
            segment: 2310.0,
            measure: 95.25,
            report: 60.0,
        },
    };
    let visuals = (0..sessions)
        .map(|i| fabricated_visuals(i, width, height))
        .collect();
    (report, visuals)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writes_every_output_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new").join("out"); // created on the way
    let (report, visuals) = fabricated("forearm <script>alert(1)</script> & co", 3, 64, 48);
    write_all(&report, &visuals, &out).unwrap();

    assert_eq!(
        names_in(&out),
        [
            "metrics.csv",
            "overlay_00.png",
            "overlay_01.png",
            "overlay_02.png",
            "report.html",
            "report.json"
        ]
    );

    // report.json reads back into the same Report.
    let back: Report = serde_json::from_slice(&fs::read(out.join(JSON_FILE)).unwrap()).unwrap();
    assert_eq!(back.schema_version, SCHEMA_VERSION);
    assert_eq!(back.series, report.series);
    assert_eq!(back.sessions.len(), 3);
    assert_eq!(back.sessions[2].alignment.as_ref().unwrap().inliers, 250);
    assert_eq!(
        back.sessions[1]
            .alignment
            .as_ref()
            .unwrap()
            .later_to_baseline,
        report.sessions[1]
            .alignment
            .as_ref()
            .unwrap()
            .later_to_baseline
    );
    assert_eq!(back.metrics[1].values[2].value, 9.0);
    assert_eq!(back.metrics[0].values[1].delta_pct, Some(-25.0));
    assert_eq!(back.timings_ms.measure, 95.25);

    // metrics.csv: header, then sessions × metrics rows in session order.
    let mut csv_reader = ::csv::Reader::from_path(out.join(CSV_FILE)).unwrap();
    assert_eq!(csv_reader.headers().unwrap(), &csv::HEADER[..]);
    let rows: Vec<::csv::StringRecord> = csv_reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3 * 3);
    assert_eq!(
        rows[0].iter().collect::<Vec<_>>(),
        [
            report.series.as_str(),
            "0",
            "2024-01-10",
            "scar_area_pct",
            "4",
            "%",
            "0",
            "0",
            ""
        ]
    );
    let pct = (-0.5f64 / 12.0 * 100.0).to_string();
    assert_eq!(
        rows[4].iter().skip(3).take(5).collect::<Vec<_>>(),
        ["line_length_mm_per_cm2", "11.5", "mm per cm²", "-0.5", &pct]
    );
    // -4.2 % is beyond the 3 % floor.
    assert_eq!(&rows[4][8], "false");
    // roughness baseline is 0: delta_pct is empty, not "inf", and any change from zero is
    // beyond a relative floor.
    assert_eq!(
        rows[8].iter().skip(3).collect::<Vec<_>>(),
        ["roughness", "0.25", "L*", "0.25", "", "false"]
    );

    // report.html: offline, escaped, one chart per metric.
    let html = fs::read_to_string(out.join(HTML_FILE)).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no URL at all"
    );
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script: the series name must not become markup"
    );
    assert!(html.contains("forearm &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    assert_eq!(html.matches("<svg class=\"chart\"").count(), METRICS.len());
    assert!(!html.contains("{{"), "every placeholder filled");
    // Each session's two pictures embedded exactly once.
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 2 * 3);
    assert!(html.contains("IMG_0102.jpg") && html.contains("few inliers &lt;50%"));
    assert!(html.contains("0123456789ab…"), "short model hash");
}

#[test]
fn overlay_pngs_decode_to_the_overlay_and_carry_no_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (report, visuals) = fabricated("s", 2, 64, 48);
    write_all(&report, &visuals, dir.path()).unwrap();
    let bytes = fs::read(dir.path().join("overlay_01.png")).unwrap();
    let decoded = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(decoded, visuals[1].overlay);
    // Walk the PNG chunks: length, type, data, CRC.
    let mut chunks = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        chunks.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        at += 12 + len;
    }
    chunks.dedup();
    assert_eq!(chunks, ["IHDR", "IDAT", "IEND"]);
}

#[test]
fn mismatched_visuals_and_unsafe_names_are_output_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (report, visuals) = fabricated("s", 2, 16, 12);
    match write_all(&report, &visuals[..1], dir.path()) {
        Err(Error::Output { reason, .. }) => {
            assert!(reason.contains("2 sessions but 1"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let mut bad = report.clone();
    bad.sessions[1].overlay = "../escape.png".to_string();
    match write_all(&bad, &visuals, dir.path()) {
        Err(Error::Output { path, .. }) => assert!(path.ends_with("../escape.png")),
        other => panic!("{other:?}"),
    }
    assert!(
        names_in(dir.path()).is_empty(),
        "nothing written before the check"
    );
}

#[test]
fn unwritable_folder_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    fs::write(&blocker, b"x").unwrap();
    let (report, visuals) = fabricated("s", 1, 16, 12);
    match write_all(&report, &visuals, &blocker.join("out")) {
        Err(Error::Output { path, reason }) => {
            assert_eq!(path, blocker.join("out"));
            assert!(reason.starts_with("cannot create folder"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn single_session_and_undated_series_render() {
    let dir = tempfile::tempdir().unwrap();
    let (mut report, visuals) = fabricated("one", 1, 32, 24);
    report.sessions[0].date = None;
    write_all(&report, &visuals, dir.path()).unwrap();
    let html = fs::read_to_string(dir.path().join(HTML_FILE)).unwrap();
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 2);
    assert!(
        html.contains("S0\n</text>"),
        "index axis when dates are missing"
    );
    assert!(!html.contains("class=\"slider"), "nothing to slide against");
    assert!(!html.contains("type=\"radio\""));
}

/// The change cell of `metric`, `session` against `reference` (`baseline` or `previous`).
fn change_cell<'a>(html: &'a str, metric: &str, session: usize, reference: &str) -> &'a str {
    let key =
        format!("data-metric=\"{metric}\" data-session=\"{session}\" data-ref=\"{reference}\"");
    let start = html.find(&key).unwrap_or_else(|| panic!("no cell {key}"));
    let end = start + html[start..].find("</td>").unwrap();
    &html[start..end]
}

#[test]
fn html_marks_noise_trends_recovery_and_sessions() {
    let (mut report, visuals) = fabricated("cheek", 3, 48, 32);
    report.sessions[1].notes = Some("needle depth 1.5 mm <3 passes>".to_string());
    // Line density: a clear downward trend; its change vs previous is marked too.
    report.metrics[1].trend.as_mut().unwrap().clear = true;
    report.metrics[1].trend.as_mut().unwrap().ci95 = [-2.0, -0.5];
    report.metrics[1].values[2].within_noise_prev = Some(false);
    report.metrics[1].values[1].within_noise_prev = Some(true);
    // Skin tone: a real change, but context only.
    let mut ita = report.metrics[0].clone();
    ita.name = "ita_deg".to_string();
    ita.unit = "°".to_string();
    for v in &mut ita.values[1..] {
        v.delta = 5.0;
        v.within_noise = Some(false);
    }
    report.metrics.push(ita);
    let html = html::render(&report, &visuals).unwrap();

    // One viewer per later session: three view modes, one slider, one print copy of overlays.
    for slot in 1..3 {
        assert_eq!(html.matches(&format!("name=\"view-{slot}\"")).count(), 3);
    }
    assert_eq!(
        html.matches("<input type=\"range\" class=\"slider").count(),
        2
    );
    assert_eq!(html.matches("class=\"pair seg-pair\"").count(), 2);
    assert_eq!(html.matches("clip-path=\"url(#cut-").count(), 2);

    // Every marking follows the JSON's within_noise values.
    let mut marked = 0;
    for metric in &report.metrics {
        for v in &metric.values[1..] {
            for (reference, within) in [
                ("baseline", v.within_noise),
                ("previous", v.within_noise_prev),
            ] {
                let cell = change_cell(&html, &metric.name, v.session, reference);
                match within {
                    None => assert!(
                        !cell.contains("data-within") && !cell.contains("mark"),
                        "{cell}"
                    ),
                    Some(w) => {
                        marked += 1;
                        assert!(cell.contains(&format!("data-within=\"{w}\"")), "{cell}");
                        assert_eq!(cell.contains(">within noise<"), w, "{cell}");
                    }
                }
            }
        }
    }
    assert_eq!(marked, 4 * 2 + 2);
    // Lower is better: scar area 4 → 3 (-25 %, beyond 3 %) improved; roughness 0 → 0.5 worsened.
    assert!(change_cell(&html, "scar_area_pct", 1, "baseline").contains(">improved<"));
    assert!(change_cell(&html, "roughness", 1, "baseline").contains(">worsened<"));
    // Skin tone is never an improvement.
    let ita_cell = change_cell(&html, "ita_deg", 2, "baseline");
    assert!(
        ita_cell.contains(">changed<") && !ita_cell.contains("improved"),
        "{ita_cell}"
    );

    // Trends: slope ± half-interval, clear or not.
    assert_eq!(html.matches("data-clear=\"false\"").count(), 3);
    assert_eq!(html.matches("data-clear=\"true\"").count(), 1);
    assert!(html.contains(">clearly improving<"));
    assert!(!html.contains("steady but within noise"));
    // scar: slope (2.5 - 4) / 2 = -0.75, interval [-1.5, 0]: symmetric.
    assert!(html.contains("-0.750 ± 0.750"), "trend with its ± interval");
    // The same clear trend, but moving the metric less than its noise floor over its span:
    // steady, not improving, and its chart line dashed.
    let mut steady = report.clone();
    steady.metrics[1].trend.as_mut().unwrap().within_noise = Some(true);
    let steady_html = html::render(&steady, &visuals).unwrap();
    assert!(!steady_html.contains(">clearly improving<"));
    assert!(steady_html.contains(">steady but within noise<"));
    assert_eq!(steady_html.matches("data-within-noise=\"true\"").count(), 1);
    assert!(steady_html.contains("(steady but within noise)"));

    // Sessions: label, escaped notes, date source, recovery, chained alignment.
    assert!(html.contains("treatment 1"));
    assert!(html.contains("needle depth 1.5 mm &lt;3 passes&gt;"));
    assert!(html.contains("date from the photo&#39;s EXIF"));
    assert_eq!(
        html.matches("data-recovered=\"true\"").count(),
        2,
        "card and glance"
    );
    assert_eq!(html.matches("data-recovered=\"false\"").count(), 1);
    assert!(html.contains("Skin recovered") && html.contains("Not yet recovered"));
    assert!(html.contains("aligned through session 1"));
    // The lighting gains say what they were fitted on (the fabricated sessions: plain skin).
    assert_eq!(html.matches(" · on the measured skin<").count(), 2);
    assert!(html.contains("12.50 px/mm, given on the command line"));
    let mut calibrated = report.clone();
    calibrated.scale = ScaleInfo {
        px_per_mm: Some(20.0),
        source: "calibration_target".to_string(),
        target: Some(TargetInfo {
            centre: [10.0, 10.0],
            diameter_px: 200.0,
            diameter_mm: 10.0,
        }),
    };
    let page = html::render(&calibrated, &visuals).unwrap();
    assert!(page.contains(
        "20.00 px/mm, from the calibration target in the photo (target: 10.00 mm disc, 200.0 px across"
    ));
    assert!(html.contains("87.50 % of the baseline photo"));
}

/// A roughness or fine-line area change between photos not sharp alike reads "focus differs",
/// never improved or worsened; other metrics (fine-line density, scars) keep their marks, and
/// the softer session says so on its card.
/// A copy of `template` under another name and unit, with these values per session.
fn metric_like(template: &MetricSeries, name: &str, unit: &str, values: [f64; 3]) -> MetricSeries {
    let mut m = template.clone();
    m.name = name.to_string();
    m.unit = unit.to_string();
    for v in &mut m.values {
        v.value = values[v.session];
        v.delta = values[v.session] - values[0];
        v.delta_pct = Some(v.delta / values[0] * 100.0);
    }
    m
}

/// The glance tile of `metric` in the page.
fn glance_tile<'a>(html: &'a str, metric: &str) -> &'a str {
    let start = html
        .find(&format!("data-metric=\"{metric}\"><span class=\"metric\""))
        .unwrap_or_else(|| panic!("no glance tile for {metric}"));
    let end = start + html[start..].find("</div>").unwrap();
    &html[start..end]
}

#[test]
fn scar_regions_seen_in_one_photo_only_are_named_on_their_session() {
    use crate::measure::scar_turnover::ScarTurnover;
    let (mut report, visuals) = fabricated("cheek", 3, 48, 32);
    report.sessions[2].scar_turnover = Some(ScarTurnover {
        appeared_regions: 1,
        appeared_area_pct: 0.24,
        appeared_area_mm2: Some(9.6),
        vanished_regions: 2,
        vanished_area_pct: 0.1,
        vanished_area_mm2: Some(4.0),
        regions: vec![crate::measure::scar_turnover::TurnoverRegion {
            appeared: true,
            centre: [10.0, 10.0],
            radius_px: 4.0,
            area_px: 40,
        }],
        beyond_noise: true,
    });
    let html = html::render(&report, &visuals).unwrap();
    let card = |index: usize| {
        let start = html
            .find(&format!("data-session=\"{index}\""))
            .expect("session card");
        let end = start + html[start..].find("</article>").unwrap();
        html[start..end].to_string()
    };
    // The overlays' rings are in the legend, only when a session has one.
    assert!(html.contains("scar region not in the baseline"));
    // The latest session's note is in the glance too, before its tiles.
    let glance_start = html.find("<div class=\"glance\">").unwrap();
    assert!(html[..glance_start].contains("data-appeared=\"1\""));
    // Session 1 has nothing seen in one photo only: no note.
    assert!(!card(1).contains("readout turnover"), "{}", card(1));
    let second = card(2);
    assert!(
        second.contains("data-appeared=\"1\" data-vanished=\"2\""),
        "{second}"
    );
    assert!(
        second.contains(
            "1 scar region not seen at baseline (9.60 mm², 0.240 % of the measured skin); \
             2 scar regions of the baseline not seen here (4.00 mm², 0.100 % of the measured skin)"
        ),
        "{second}"
    );
    // The JSON carries it for scripts; reports without it still read.
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"appeared_area_mm2\":9.6"), "{json}");
    let old = json.replace(",\"scar_turnover\":null", "");
    assert!(serde_json::from_str::<Report>(&old).is_ok());
    // Regions that together stay within scar area's noise floor cannot make a change the
    // report calls real: no note, no ring in the legend.
    report.sessions[2]
        .scar_turnover
        .as_mut()
        .unwrap()
        .beyond_noise = false;
    let quiet = html::render(&report, &visuals).unwrap();
    assert!(!quiet.contains("readout turnover"));
    assert!(!quiet.contains("scar region not in the baseline"));
    report.sessions[2].scar_turnover = None;
    assert!(
        !html::render(&report, &visuals)
            .unwrap()
            .contains("scar region not in the baseline")
    );
}

#[test]
fn the_glance_shows_scar_area_once_counts_whole_and_a_shares_change_in_points() {
    let (mut report, visuals) = fabricated("cheek", 3, 48, 32);
    let template = report.metrics[0].clone();
    report.metrics.push(metric_like(
        &template,
        "scar_area_mm2",
        "mm2",
        [64.0, 48.0, 40.0],
    ));
    report.metrics.push(metric_like(
        &template,
        "line_count",
        "count",
        [11.0, 11.0, 12.0],
    ));
    report.metrics.push(metric_like(
        &template,
        "redness_area_pct",
        "%",
        [0.08, 0.05, 0.02],
    ));
    let html = html::render(&report, &visuals).unwrap();

    // With a scale, one scar-area tile: mm² (the change), with the share of the region beside.
    assert!(!html.contains("data-metric=\"scar_area_pct\"><span class=\"metric\""));
    let scar = glance_tile(&html, "scar_area_mm2");
    assert!(scar.contains("-37.50 %"), "{scar}");
    assert!(
        scar.contains("64.00 → 40.00 mm² · 4.00 → 2.50 % of the region"),
        "{scar}"
    );
    // Counts are whole; the reddened share's change is in percentage points, not a ratio.
    assert!(glance_tile(&html, "line_count").contains("11 → 12 count"));
    let red = glance_tile(&html, "redness_area_pct");
    assert!(red.contains("-0.0600 pp"), "{red}");
    // The table gives no ratio for it either; a ratio where one means something stays.
    assert!(!change_cell(&html, "redness_area_pct", 2, "baseline").contains("class=\"pct\""));
    assert!(change_cell(&html, "scar_area_mm2", 2, "baseline").contains("(-37.50 %)"));
    // Without a scale there is no mm² metric, and the share has its own tile.
    report.metrics.retain(|m| m.name != "scar_area_mm2");
    let html = html::render(&report, &visuals).unwrap();
    assert!(glance_tile(&html, "scar_area_pct").contains("4.00 → 2.50 %"));
}

#[test]
fn html_marks_focus_sensitive_metrics_between_unequally_sharp_photos() {
    let (mut report, visuals) = fabricated("cheek", 3, 48, 32);
    // Session 1 is much softer than the baseline; session 2 is as sharp as the baseline, so
    // it compares with the baseline but not with session 1.
    for (i, ratio) in [(1, 0.6), (2, 0.97)] {
        report.sessions[i].focus = Some(FocusReport {
            fine_detail_ratio: ratio,
            roughness_comparable: crate::measure::focus_comparable(ratio),
        });
    }
    // Fine-line area reads focus too: the scar series' numbers under its name.
    let mut line_area = report.metrics[0].clone();
    line_area.name = "line_area_pct".into();
    line_area.reads_focus = true;
    report.metrics.push(line_area);
    let roughness = report
        .metrics
        .iter_mut()
        .find(|m| m.name == "roughness")
        .unwrap();
    roughness.values[2].within_noise_prev = Some(false);
    assert_eq!(
        roughness.values[1].within_noise,
        Some(false),
        "beyond noise"
    );
    let html = html::render(&report, &visuals).unwrap();

    let softer = change_cell(&html, "roughness", 1, "baseline");
    assert!(
        softer.contains(">focus differs<") && !softer.contains(">worsened<"),
        "{softer}"
    );
    let against_softer = change_cell(&html, "roughness", 2, "previous");
    assert!(
        against_softer.contains(">focus differs<"),
        "{against_softer}"
    );
    let alike = change_cell(&html, "roughness", 2, "baseline");
    assert!(!alike.contains("focus differs"), "{alike}");
    let line_area = change_cell(&html, "line_area_pct", 1, "baseline");
    assert!(
        line_area.contains(">focus differs<") && !line_area.contains(">improved<"),
        "{line_area}"
    );
    assert!(!change_cell(&html, "line_area_pct", 2, "baseline").contains("focus differs"));
    assert!(change_cell(&html, "scar_area_pct", 1, "baseline").contains(">improved<"));
    // Real fine lines vanish with blur, so fine-line density reads focus too.
    let density = change_cell(&html, "line_length_mm_per_cm2", 1, "baseline");
    assert!(density.contains(">focus differs<"), "{density}");
    assert_eq!(html.matches("class=\"badge focus\"").count(), 1);
    assert!(html.contains(">softer than the baseline</span>"));
    assert!(html.contains("data-fine-detail=\"0.6\""));
    // Its roughness and fine-line points are crosses in their charts (two strokes each),
    // explained in the legend.
    let cross = "stroke=\"#B45309\" stroke-width=\"2\"";
    let reading_focus = report.metrics.iter().filter(|m| m.reads_focus).count();
    assert!(reading_focus >= 3, "{reading_focus}");
    assert_eq!(html.matches(cross).count(), 2 * reading_focus);
    assert!(html.contains("left out of its trend"));
    let (sharp, _) = fabricated("cheek", 3, 48, 32);
    let page = html::render(&sharp, &visuals).unwrap();
    assert!(!page.contains(cross) && !page.contains("left out of its trend"));
}

#[test]
fn html_renders_missing_fields_as_nothing() {
    let (mut report, visuals) = fabricated("bare", 3, 32, 24);
    report.scale = ScaleInfo {
        px_per_mm: None,
        source: "none".to_string(),
        target: None,
    };
    for s in &mut report.sessions {
        s.redness_recovered = None;
        s.label = None;
        s.notes = None;
        s.date = None;
        s.date_source = "none".to_string();
    }
    for m in &mut report.metrics {
        m.noise_floor = None;
        m.trend = None;
        for v in &mut m.values {
            v.within_noise = None;
            v.within_noise_prev = None;
        }
    }
    let html = html::render(&report, &visuals).unwrap();
    for absent in [
        "data-within",
        "data-recovered",
        "data-clear",
        "chg better",
        "chg worse",
        "chg noise",
        "tile better",
        "tile noise",
        "noise floor ±",
        ">false",
        "false<",
        ">None",
        ">null",
        "Notes",
    ] {
        if let Some(at) = html.find(absent) {
            panic!("{absent}: …{}…", &html[at.saturating_sub(120)..at + 40]);
        }
    }
    assert_eq!(
        html.matches("needs 3 dated sessions").count(),
        report.metrics.len()
    );
    assert!(html.contains("no scale: areas in % of the common region"));
    assert!(html.contains("no capture date found"));
}

#[test]
fn chart_axis_uses_days_when_dated() {
    let (report, _) = fabricated("s", 3, 8, 8);
    let (xs, labels, title) = chart::session_axis(&report);
    assert_eq!(xs, [0.0, 35.0, 83.0]);
    assert_eq!(labels[2], "2024-04-02");
    assert_eq!(title, "capture date");
}

/// Writes a larger demo series for looking at the page:
/// `SKINTRACK_REPORT_DEMO=/tmp/demo cargo test --lib report::tests::demo -- --ignored`
/// (`SKINTRACK_REPORT_DEMO_WIDTH=4000` for a full-size frame; height is 2/3 of it).
#[test]
#[ignore]
fn demo() {
    let out = std::env::var("SKINTRACK_REPORT_DEMO")
        .unwrap_or_else(|_| "/tmp/skintrack_report_demo".to_string());
    let width: u32 = std::env::var("SKINTRACK_REPORT_DEMO_WIDTH")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1200);
    let (report, visuals) = fabricated("Left cheek <acne scars>", 3, width, width * 2 / 3);
    let start = std::time::Instant::now();
    write_all(&report, &visuals, Path::new(&out)).unwrap();
    eprintln!("write_all: {:.2} s", start.elapsed().as_secs_f64());
}
