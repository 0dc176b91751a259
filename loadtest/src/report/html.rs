//! The HTML report: `DIR/index.html` (no script, no stylesheet or font from
//! elsewhere) next to its PNG charts and a copy of the JSON result it was
//! made from, so `liveshop-loadtest report DIR/result.json --out DIR2`
//! makes it again. It works from the JSON alone, for any scenario: every
//! object in `figures` shaped like a latency (`p50_us` ... `max_us`) is a
//! measured operation; the throughput and RSS charts come from `timeline`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::charts::{self, Percentiles};
use super::timeline::TimelineData;

/// Writes the report for the JSON `result` into `dir` (created if need
/// be); returns the files written.
pub fn render(result: &Value, dir: &Path) -> Result<Vec<PathBuf>, String> {
    let io = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut written = Vec::new();
    let json_path = dir.join("result.json");
    let json = serde_json::to_string_pretty(result).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, json + "\n").map_err(|e| io(&json_path, e))?;
    written.push(json_path);

    let scenario = result["scenario"].as_str().unwrap_or("?");
    let ops = latencies(&result["figures"]);
    let timeline: Option<TimelineData> = serde_json::from_value(result["timeline"].clone()).ok();
    let mut charts_html = String::new();
    let mut chart = |file: &str, alt: &str, draw: &dyn Fn(&Path) -> Result<(), String>| {
        let path = dir.join(file);
        draw(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = writeln!(
            charts_html,
            "<figure><img src=\"{file}\" alt=\"{}\" width=\"900\" height=\"420\"></figure>",
            esc(alt)
        );
        written.push(path);
        Ok::<(), String>(())
    };
    if !ops.is_empty() {
        let title = format!("{scenario}: latency percentiles (send to reply)");
        chart("latency.png", "latency percentiles", &|p| {
            charts::latency(p, &title, &ops)
        })?;
    }
    if let Some(t) = &timeline {
        if t.throughput.values().any(|b| b.iter().any(|n| *n > 0)) {
            chart("throughput.png", "throughput over time", &|p| {
                charts::throughput(p, t)
            })?;
        }
        if t.rss.iter().any(|s| !s.samples.is_empty()) {
            chart("rss.png", "RSS over time", &|p| charts::rss(p, t))?;
        }
    }
    let html = page(result, &ops, timeline.as_ref(), &charts_html);
    let index = dir.join("index.html");
    std::fs::write(&index, html).map_err(|e| io(&index, e))?;
    written.push(index);
    Ok(written)
}

/// Every latency-shaped object in `figures` (top level, or one level
/// down as `outer.inner`) with a count above zero.
pub fn latencies(figures: &Value) -> Vec<(String, Percentiles)> {
    let mut out = Vec::new();
    let Some(map) = figures.as_object() else {
        return out;
    };
    for (k, v) in map {
        if let Some(p) = as_latency(v) {
            out.push((k.clone(), p));
        } else if let Some(inner) = v.as_object() {
            for (k2, v2) in inner {
                if let Some(p) = as_latency(v2) {
                    out.push((format!("{k}.{k2}"), p));
                }
            }
        }
    }
    out
}

fn as_latency(v: &Value) -> Option<Percentiles> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    if n("count")? == 0 {
        return None;
    }
    Some([
        n("p50_us")?,
        n("p90_us")?,
        n("p99_us")?,
        n("p999_us")?,
        n("max_us")?,
    ])
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A scalar as text; anything else as compact JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

/// Rows of `key | value`, nested objects flattened one level as `a.b`;
/// latency-shaped objects are left to the latency table.
fn rows(v: &Value) -> String {
    let mut out = String::new();
    let Some(map) = v.as_object() else {
        return out;
    };
    for (k, v) in map {
        match v.as_object() {
            _ if as_latency(v).is_some() || is_empty_latency(v) => {}
            Some(inner) if !inner.is_empty() && inner.len() <= 24 => {
                for (k2, v2) in inner {
                    if as_latency(v2).is_none() && !is_empty_latency(v2) {
                        row(&mut out, &format!("{k}.{k2}"), v2);
                    }
                }
            }
            _ => row(&mut out, k, v),
        }
    }
    out
}

fn is_empty_latency(v: &Value) -> bool {
    v.get("count").and_then(Value::as_u64) == Some(0) && v.get("p50_us").is_some()
}

fn row(out: &mut String, k: &str, v: &Value) {
    let _ = writeln!(
        out,
        "<tr><th>{}</th><td>{}</td></tr>",
        esc(k),
        esc(&show(v))
    );
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1000px;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
.pass{color:#fff;background:#2a2;padding:2px 10px}\
.fail{color:#fff;background:#c22;padding:2px 10px}\
figure{margin:0 0 1em}code{font-size:90%}";

fn page(
    result: &Value,
    ops: &[(String, Percentiles)],
    timeline: Option<&TimelineData>,
    charts_html: &str,
) -> String {
    let scenario = esc(result["scenario"].as_str().unwrap_or("?"));
    let verdict = &result["verdict"];
    let pass = verdict["pass"].as_bool() == Some(true);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>liveshop-loadtest: {scenario}</title><style>{STYLE}</style></head><body>\n\
         <h1>liveshop-loadtest: {scenario}</h1>\n<p>Verdict: <span class=\"{}\">{}</span> \
         ({} rules: {})</p>\n",
        if pass { "pass" } else { "fail" },
        if pass { "PASS" } else { "FAIL" },
        verdict["rules"].as_array().map_or(0, Vec::len),
        esc(&verdict["rules"]
            .as_array()
            .map(|r| r.iter().map(show).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()),
    );
    if let Some(violations) = verdict["violations"].as_array().filter(|v| !v.is_empty()) {
        h.push_str(
            "<h2>Violations</h2>\n<table><tr><th>rule</th><th>count</th><th>examples</th></tr>\n",
        );
        for v in violations {
            let examples: Vec<String> = v["examples"]
                .as_array()
                .map(|e| e.iter().map(|x| esc(&show(x))).collect())
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&show(&v["rule"])),
                esc(&show(&v["count"])),
                examples.join("<br>")
            );
        }
        h.push_str("</table>\n");
    }
    let targets = result["targets"]
        .as_array()
        .map(|t| t.iter().map(show).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let _ = writeln!(h, "<p>Targets: <code>{}</code></p>", esc(&targets));
    let _ = writeln!(
        h,
        "<h2>Parameters</h2>\n<table>\n{}</table>",
        rows(&result["params"])
    );
    if !ops.is_empty() {
        h.push_str("<h2>Latency</h2>\n<p>Send to reply, ms (hdrhistogram).</p>\n<table><tr><th>operation</th><th>count</th>");
        for p in ["p50", "p90", "p99", "p99.9", "max", "mean"] {
            let _ = write!(h, "<th>{p}</th>");
        }
        h.push_str("</tr>\n");
        for (name, p) in ops {
            let fig = find_latency(&result["figures"], name);
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td>",
                esc(name),
                show(&fig["count"])
            );
            for us in p {
                let _ = write!(h, "<td class=\"n\">{:.2}</td>", *us as f64 / 1000.0);
            }
            let mean = fig["mean_us"].as_f64().unwrap_or(0.0) / 1000.0;
            let _ = writeln!(h, "<td class=\"n\">{mean:.2}</td></tr>");
        }
        h.push_str("</table>\n");
    }
    if !charts_html.is_empty() {
        let _ = write!(h, "<h2>Charts</h2>\n{charts_html}");
    }
    if let Some(t) = timeline.filter(|t| !t.rss.is_empty()) {
        h.push_str("<h2>Memory</h2>\n<ul>\n");
        for line in t.rss_summary() {
            let _ = writeln!(h, "<li>{}</li>", esc(&line));
        }
        h.push_str("</ul>\n");
    }
    let _ = writeln!(
        h,
        "<h2>Figures</h2>\n<table>\n{}</table>",
        rows(&result["figures"])
    );
    h.push_str("<p>Made by <code>liveshop-loadtest</code> from <a href=\"result.json\">result.json</a>.</p>\n</body></html>\n");
    h
}

fn find_latency<'a>(figures: &'a Value, name: &str) -> &'a Value {
    match name.split_once('.') {
        Some((a, b)) => &figures[a][b],
        None => &figures[name],
    }
}
