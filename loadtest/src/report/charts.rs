//! The report's PNG charts, drawn with plotters' bitmap backend. Text uses
//! an embedded DejaVu Sans through ab_glyph, so no system font (nor font
//! library) is needed.

use std::path::Path;
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::timeline::TimelineData;

/// The size of every chart, pixels.
const SIZE: (u32, u32) = (900, 420);

/// The percentiles of one measured operation, µs: p50, p90, p99, p99.9, max.
pub type Percentiles = [u64; 5];

const PERCENTILES: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

fn font() -> Result<(), String> {
    static REGISTER: Once = Once::new();
    let mut result = Ok(());
    REGISTER.call_once(|| {
        result = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .map_err(|_| "the embedded font does not load".to_owned());
    });
    result
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A colour per series, distinct for the first ten.
fn colour(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    PALETTE[i % PALETTE.len()]
}

/// Grouped bars: for each percentile one bar per operation, in ms.
pub fn latency(path: &Path, title: &str, ops: &[(String, Percentiles)]) -> Result<(), String> {
    font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(text)?;
    let top = ops
        .iter()
        .flat_map(|(_, p)| p.iter())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64
        / 1000.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..5f64, 0f64..top * headroom(ops.len()))
        .map_err(text)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(0)
        .y_desc("ms")
        .y_label_formatter(&|v| number(*v))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(text)?;
    let n = ops.len().max(1) as f64;
    let width = 0.8 / n;
    for (j, (name, p)) in ops.iter().enumerate() {
        let c = colour(j);
        let bars = p.iter().enumerate().map(move |(i, us)| {
            let x0 = i as f64 + 0.1 + j as f64 * width;
            let ms = *us as f64 / 1000.0;
            Rectangle::new([(x0, 0.0), (x0 + width * 0.92, ms)], c.filled())
        });
        chart
            .draw_series(bars)
            .map_err(text)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        if ops.len() <= 4 {
            let values = p.iter().enumerate().map(|(i, us)| {
                let x = i as f64 + 0.1 + (j as f64 + 0.5) * width;
                let ms = *us as f64 / 1000.0;
                Text::new(
                    short_ms(ms),
                    (x, ms),
                    ("sans-serif", 11)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            });
            chart.draw_series(values).map_err(text)?;
        }
    }
    // The category names under the axis, centred on each group.
    for (i, name) in PERCENTILES.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            *name,
            (x, y + 8),
            ("sans-serif", 15)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(text)?;
    }
    legend(&mut chart)?;
    root.present().map_err(text)
}

/// How far above the highest value the y axis goes, so that the legend
/// (upper left, about 18 px a series) stays clear of the data.
fn headroom(series: usize) -> f64 {
    let plot_px = f64::from(SIZE.1) - 90.0;
    let legend = (18.0 * series as f64 + 20.0).min(plot_px * 0.7) / plot_px;
    1.0 / (1.0 - legend)
}

/// An axis label: no decimals where they say nothing.
fn number(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').to_owned()
    }
}

fn short_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

type Chart<'a> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn legend(chart: &mut Chart<'_>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())
}

/// One line per series of `(seconds, value)` points.
fn lines(
    path: &Path,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    span_s: f64,
) -> Result<(), String> {
    font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(text)?;
    let points = || series.iter().flat_map(|(_, s)| s.iter());
    let x_max = points().map(|p| p.0).fold(span_s.max(1.0), f64::max);
    let y_max = points().map(|p| p.1).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max * headroom(series.len()))
        .map_err(text)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("seconds since the run started")
        .y_desc(y_desc)
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(text)?;
    for (j, (name, s)) in series.iter().enumerate() {
        let c = colour(j);
        chart
            .draw_series(LineSeries::new(s.iter().copied(), c.stroke_width(2)))
            .map_err(text)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    legend(&mut chart)?;
    root.present().map_err(text)
}

/// Seconds from the clock's start to the last RSS sample (the run's end,
/// when sampled), so that both time charts share one axis.
fn span_s(t: &TimelineData) -> f64 {
    let last = t.rss.iter().filter_map(|s| s.samples.last()).map(|s| s[0]);
    last.max().unwrap_or(0) as f64 / 1000.0
}

/// Operations per second over time, one line per kind (drawn as steps, so
/// a bucket's rate holds over its width).
pub fn throughput(path: &Path, t: &TimelineData) -> Result<(), String> {
    let width = t.bucket_ms.max(1) as f64 / 1000.0;
    let series: Vec<(String, Vec<(f64, f64)>)> = t
        .throughput
        .iter()
        .map(|(kind, buckets)| {
            let mut points = Vec::with_capacity(buckets.len() * 2 + 1);
            for (i, n) in buckets.iter().enumerate() {
                let rate = *n as f64 / width;
                points.push((i as f64 * width, rate));
                points.push(((i + 1) as f64 * width, rate));
            }
            points.push((buckets.len() as f64 * width, 0.0));
            (kind.clone(), points)
        })
        .collect();
    let title = format!("throughput (per {} ms bucket, as a rate)", t.bucket_ms);
    lines(path, &title, "operations / s", &series, span_s(t))
}

/// RSS over time, MiB, one line per sampled process.
pub fn rss(path: &Path, t: &TimelineData) -> Result<(), String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = t
        .rss
        .iter()
        .filter(|s| !s.samples.is_empty())
        .map(|s| {
            let points = s
                .samples
                .iter()
                .map(|[ms, kib]| (*ms as f64 / 1000.0, *kib as f64 / 1024.0))
                .collect();
            (format!("pid {} ({})", s.pid, s.name), points)
        })
        .collect();
    lines(path, "resident memory (VmRSS)", "MiB", &series, span_s(t))
}
