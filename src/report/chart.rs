//! SVG charts for `report.html`: takes one metric series, gives an inline `<svg>` line chart of
//! its value over the sessions with the noise band around the baseline and the trend line
//! (plotters' SVG backend into a string; no external references).

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::html::format_number;
use super::{MetricSeries, Report, Trend};

/// Drawing size in SVG units; the page scales it to its column width.
const SIZE: (u32, u32) = (560, 280);
/// Measured values (line and points); the page's legend uses the same colours.
pub const VALUE_COLOUR: [u8; 3] = [37, 99, 235];
/// Baseline ± noise floor.
pub const BAND_COLOUR: [u8; 3] = [203, 213, 225];
/// Theil–Sen trend line.
pub const TREND_COLOUR: [u8; 3] = [234, 88, 12];
const LINE: RGBColor = rgb(VALUE_COLOUR);
const BAND: RGBColor = rgb(BAND_COLOUR);
const TREND: RGBColor = rgb(TREND_COLOUR);
const BASELINE: RGBColor = RGBColor(148, 163, 184);
const GRID: RGBColor = RGBColor(226, 232, 240);
const TEXT: RGBColor = RGBColor(71, 85, 105);
/// A metric that reads focus, from a photo whose focus differs from the baseline's ("focus
/// differs").
pub const FOCUS_COLOUR: [u8; 3] = [180, 83, 9];
const FOCUS: RGBColor = rgb(FOCUS_COLOUR);

/// Where each session sits on the x axis, with its tick label and the axis title.
/// Real time (days since the baseline) when every session has a date and the dates never go
/// backwards, so uneven intervals look uneven; otherwise the session number.
pub fn session_axis(report: &Report) -> (Vec<f64>, Vec<String>, &'static str) {
    let dates: Option<Vec<chrono::NaiveDate>> = report
        .sessions
        .iter()
        .map(|s| {
            s.date
                .as_deref()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        })
        .collect();
    if let Some(dates) = dates.filter(|d| !d.is_empty() && d.windows(2).all(|w| w[0] <= w[1])) {
        let xs = dates
            .iter()
            .map(|d| (*d - dates[0]).num_days() as f64)
            .collect();
        let labels = dates
            .iter()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect();
        (xs, labels, "capture date")
    } else {
        let xs = report.sessions.iter().map(|s| s.index as f64).collect();
        let labels = report
            .sessions
            .iter()
            .map(|s| format!("S{}", s.index))
            .collect();
        (xs, labels, "session")
    }
}

const fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

/// Half-width of the noise band around `baseline`, if the metric has a floor.
fn band_half_width(metric: &MetricSeries, baseline: f64) -> Option<f64> {
    let half = metric.noise_floor.as_ref()?.half_width(baseline);
    (half.is_finite() && half > 0.0).then_some(half)
}

/// The trend line's ends over `[x0, x1]` (days since the baseline): Theil–Sen slope from the
/// report, intercept the median of `y − slope·x` over the points (the usual Theil–Sen
/// intercept; the report carries the slope only).
fn trend_line(trend: &Trend, points: &[(f64, f64)], x0: f64, x1: f64) -> Option<[(f64, f64); 2]> {
    let per_day = trend.slope_per_30_days / 30.0;
    if !per_day.is_finite() || points.is_empty() {
        return None;
    }
    let mut offsets: Vec<f64> = points.iter().map(|(x, y)| y - per_day * x).collect();
    offsets.sort_by(f64::total_cmp);
    let n = offsets.len();
    let intercept = if n % 2 == 1 {
        offsets[n / 2]
    } else {
        (offsets[n / 2 - 1] + offsets[n / 2]) / 2.0
    };
    Some([
        (x0, intercept + per_day * x0),
        (x1, intercept + per_day * x1),
    ])
}

/// The chart of `metric` as an inline SVG element (without the `xmlns` attribute, which HTML
/// does not need and which would be the report's only URL).
///
/// # Errors
/// The plotters message if drawing fails.
pub fn metric_chart(report: &Report, metric: &MetricSeries) -> Result<String, String> {
    let (xs, labels, x_title) = session_axis(report);
    let position = |session: usize| report.sessions.iter().position(|s| s.index == session);
    let shown: Vec<&super::MetricValue> = metric
        .values
        .iter()
        .filter(|v| v.value.is_finite() && position(v.session).is_some())
        .collect();
    let points: Vec<(f64, f64)> = shown
        .iter()
        .filter_map(|v| position(v.session).map(|i| (xs[i], v.value)))
        .collect();
    // A metric that reads focus (roughness, fine lines), from a photo whose focus differs
    // from the baseline's, reads focus, not skin: it is drawn apart and, as in the report's
    // trend, left out of the trend line.
    let sharp_alike: Vec<bool> = shown
        .iter()
        .map(|v| !crate::measure::reads_focus(&metric.name) || report.sharp_alike(v.session, 0))
        .collect();
    let trend_points: Vec<(f64, f64)> = points
        .iter()
        .zip(&sharp_alike)
        .filter(|(_, alike)| **alike)
        .map(|(p, _)| *p)
        .collect();
    let baseline = metric
        .values
        .iter()
        .find(|v| v.session == 0)
        .map(|v| v.value)
        .filter(|v| v.is_finite());

    let (x_min, x_max) = span(xs.iter().copied()).unwrap_or((0.0, 1.0));
    let x_pad = ((x_max - x_min) * 0.06).max(0.5);
    let band = baseline.and_then(|b| band_half_width(metric, b).map(|h| (b - h, b + h)));
    // A trend needs a time axis: its slope is per day.
    let trend = metric
        .trend
        .as_ref()
        .filter(|_| x_title == "capture date")
        .and_then(|t| trend_line(t, &trend_points, x_min, x_max));
    let (y_min, y_max) = span(
        points
            .iter()
            .map(|p| p.1)
            .chain(band.into_iter().flat_map(|(lo, hi)| [lo, hi]))
            .chain(trend.into_iter().flatten().map(|p| p.1)),
    )
    .unwrap_or((0.0, 1.0));
    let y_pad = if y_max > y_min {
        (y_max - y_min) * 0.15
    } else {
        (y_max.abs() * 0.1).max(1.0)
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(
                SessionAxis {
                    inner: ((x_min - x_pad)..(x_max + x_pad)).into(),
                    ticks: xs.clone(),
                },
                (y_min - y_pad)..(y_max + y_pad),
            )
            .map_err(|e| err(&e))?;
        let label_of = |x: &f64| {
            xs.iter()
                .position(|p| (p - x).abs() < 1e-9)
                .map(|i| labels[i].clone())
                .unwrap_or_default()
        };
        let y_title = if metric.unit.is_empty() {
            metric.name.clone()
        } else {
            super::html::shown_unit(&metric.unit).to_string()
        };
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID)
            .axis_style(BASELINE)
            .x_label_formatter(&label_of)
            .y_label_formatter(&|y| format_number(*y))
            .x_desc(x_title)
            .y_desc(y_title)
            .label_style(("sans-serif", 15).into_font().color(&TEXT))
            .axis_desc_style(("sans-serif", 15).into_font().color(&TEXT))
            .draw()
            .map_err(|e| err(&e))?;
        if let Some((lo, hi)) = band {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x_min - x_pad, lo), (x_max + x_pad, hi)],
                    BAND.mix(0.55).filled(),
                )))
                .map_err(|e| err(&e))?;
        }
        if let Some(b) = baseline {
            let ends = [(x_min - x_pad, b), (x_max + x_pad, b)];
            chart
                .draw_series(DashedLineSeries::new(ends, 6, 4, BASELINE.stroke_width(1)))
                .map_err(|e| err(&e))?;
        }
        if let (Some(ends), Some(t)) = (trend, metric.trend.as_ref()) {
            // Solid when the interval excludes zero and the trend moves the metric beyond its
            // noise floor, dashed otherwise.
            let style = TREND.stroke_width(2);
            if t.clear_beyond_noise() {
                chart.draw_series(LineSeries::new(ends, style))
            } else {
                chart.draw_series(DashedLineSeries::new(ends, 8, 6, style))
            }
            .map_err(|e| err(&e))?;
        }
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                LINE.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
        // Filled points: beyond noise (or unmarked); hollow: within noise of the baseline;
        // a cross: a metric that reads focus, from a photo whose focus differs from the
        // baseline's.
        let within: Vec<bool> = shown.iter().map(|v| v.within_noise == Some(true)).collect();
        let circles = || {
            points
                .iter()
                .zip(&within)
                .zip(&sharp_alike)
                .filter(|(_, alike)| **alike)
                .map(|((&p, &w), _)| (p, w))
        };
        chart
            .draw_series(circles().map(|(p, w)| {
                if w {
                    Circle::new(p, 4, WHITE.filled())
                } else {
                    Circle::new(p, 4, LINE.filled())
                }
            }))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(
                circles()
                    .filter(|(_, w)| *w)
                    .map(|(p, _)| Circle::new(p, 4, LINE.stroke_width(2))),
            )
            .map_err(|e| err(&e))?;
        chart
            .draw_series(
                points
                    .iter()
                    .zip(&sharp_alike)
                    .filter(|(_, alike)| !**alike)
                    .map(|(&p, _)| Cross::new(p, 5, FOCUS.stroke_width(2))),
            )
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1))
}

/// A linear x axis whose ticks sit exactly on the sessions (plotters' `WithKeyPoints` does
/// the same but cannot take a label formatter on f64).
struct SessionAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for SessionAxis {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Grid lines only at sessions: no light lines in between.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
}

/// Smallest and largest finite value, if any.
fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| {
        Some(acc.map_or((v, v), |(lo, hi): (f64, f64)| (lo.min(v), hi.max(v))))
    })
}
