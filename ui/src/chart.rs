//! Line charts rendered on the server as inline SVG: no JavaScript, no external assets,
//! and attributes only (no `style`), so a strict Content-Security-Policy holds.

use std::fmt::Write;

/// One line: points are (seconds since the epoch, value).
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    /// A CSS colour (a fixed palette, never user input).
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// A chart ready to embed: its SVG markup (everything in it escaped or numeric).
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub svg: String,
}

const W: f64 = 560.0;
const H: f64 = 180.0;
/// The least room left of the frame for the value axis's labels; more when they are
/// wider (`1023.75 MiB/s`), so none is cut off at the SVG's edge.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 26.0;
/// The axis labels' font size (SVG units).
const LABEL_SIZE: f64 = 11.0;
/// Room between a value label and the frame, and between a label and the SVG's edge.
const LABEL_GAP: f64 = 6.0;
const EDGE: f64 = 4.0;

/// A generous estimate of a label's width in a sans-serif font at `size` (no fonts are
/// measured on the server): wide letters count more than digits, dots and spaces less.
pub fn text_width(s: &str, size: f64) -> f64 {
    let em: f64 = s
        .chars()
        .map(|c| match c {
            '.' | ',' | ':' | ' ' | '/' | 'i' | 'l' | 'j' | 't' | 'f' | 'I' | '(' | ')' => 0.34,
            '%' | 'm' | 'w' | 'M' | 'W' => 0.95,
            c if c.is_ascii_digit() => 0.58,
            c if c.is_ascii_uppercase() => 0.72,
            _ => 0.6,
        })
        .sum();
    em * size
}

pub fn escape(s: &str) -> String {
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

/// A time axis label: minutes, or seconds too when the chart spans under 10 minutes.
fn clock(t: f64, span: f64) -> String {
    let fmt = if span < 600.0 { "%H:%M:%S" } else { "%H:%M" };
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| d.format(fmt).to_string())
        .unwrap_or_default()
}

/// A line chart of `series` over time. `y_max` fixes the scale (100 for percentages);
/// otherwise it is the largest value (at least 1). `fmt` labels the value axis.
pub fn line_chart(
    title: &str,
    series: &[Series],
    y_max: Option<f64>,
    fmt: fn(f64) -> String,
) -> Chart {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = escape(title)
    );
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let top = y_max
        .unwrap_or_else(|| (all.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1).max(1.0))
        .max(1e-9);
    // The value axis's labels, and room enough left of the frame for the widest. A label
    // the formatter rounds to the one below it (a quiet NIC's "0 B/s" five times) is left
    // out; its grid line stays.
    let mut ticks: Vec<(f64, String)> = Vec::with_capacity(5);
    for i in 0..=4 {
        let v = top * i as f64 / 4.0;
        let label = fmt(v);
        let repeated = ticks
            .iter()
            .rev()
            .find(|(_, l)| !l.is_empty())
            .is_some_and(|(_, l)| *l == label);
        ticks.push((v, if repeated { String::new() } else { label }));
    }
    let widest = ticks
        .iter()
        .map(|(_, l)| text_width(l, LABEL_SIZE))
        .fold(0.0, f64::max);
    let left = LEFT.max((EDGE + widest + LABEL_GAP).ceil());
    let (px_w, px_h) = (W - left - RIGHT, H - TOP - BOTTOM);
    // Frame and grid.
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{TOP}" width="{px_w}" height="{px_h}" fill="#ffffff" stroke="#dfe3ea"/>"##
    );
    if all.len() < 2 {
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{y}" text-anchor="middle" fill="#5b6475" font-size="13">No samples yet</text></svg>"##,
            x = left + px_w / 2.0,
            y = TOP + px_h / 2.0
        );
        return Chart {
            title: title.to_string(),
            svg,
        };
    }
    let t0 = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let t1 = all.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let span = (t1 - t0).max(1.0);
    let x = |t: f64| left + (t - t0) / span * px_w;
    let y = |v: f64| TOP + px_h - (v.clamp(0.0, top) / top) * px_h;
    for (v, label) in &ticks {
        let yy = y(*v);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eef0f4"/>"##,
            x2 = left + px_w,
        );
        if !label.is_empty() {
            let _ = write!(
                svg,
                r##"<text x="{lx}" y="{ty:.1}" text-anchor="end" fill="#5b6475" font-size="{LABEL_SIZE}">{label}</text>"##,
                lx = left - LABEL_GAP,
                ty = yy + 4.0,
                label = escape(label)
            );
        }
    }
    let _ = write!(
        svg,
        r##"<text x="{left}" y="{by}" fill="#5b6475" font-size="{LABEL_SIZE}">{a}</text><text x="{mx}" y="{by}" text-anchor="middle" fill="#5b6475" font-size="{LABEL_SIZE}">{m}</text><text x="{rx}" y="{by}" text-anchor="end" fill="#5b6475" font-size="{LABEL_SIZE}">{b} UTC</text>"##,
        by = H - 8.0,
        mx = left + px_w / 2.0,
        rx = left + px_w,
        a = clock(t0, span),
        m = clock(t0 + span / 2.0, span),
        b = clock(t1, span)
    );
    for (i, s) in series.iter().enumerate() {
        if s.points.is_empty() {
            continue;
        }
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="series" data-label="{l}" fill="none" stroke="{c}" stroke-width="1.8" points="{p}"/>"#,
            l = escape(&s.label),
            c = s.color,
            p = pts.join(" ")
        );
        // Legend, above the frame on the right.
        let lx = left + px_w - 90.0 * (series.len() - i) as f64;
        let _ = write!(
            svg,
            r##"<rect x="{lx}" y="{ly}" width="12" height="3" fill="{c}"/><text x="{tx}" y="{ty}" fill="#1d2330" font-size="{LABEL_SIZE}">{l}</text>"##,
            ly = TOP - 12.0,
            c = s.color,
            tx = lx + 16.0,
            ty = TOP - 8.0,
            l = escape(&s.label)
        );
    }
    svg.push_str("</svg>");
    Chart {
        title: title.to_string(),
        svg,
    }
}

/// Rates per second from a cumulative counter's samples; a counter that went back (the
/// host rebooted) starts over rather than showing a negative rate.
pub fn rates(samples: &[(f64, f64)]) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter_map(|w| {
            let ((t0, v0), (t1, v1)) = (w[0], w[1]);
            (t1 > t0 && v1 >= v0).then(|| (t1, (v1 - v0) / (t1 - t0)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(v: f64) -> String {
        format!("{v:.0}%")
    }

    #[test]
    fn a_chart_has_one_polyline_per_series_within_its_frame() {
        let s = Series {
            label: "CPU <used>".into(),
            color: "#2456c9",
            points: vec![(1000.0, 0.0), (1060.0, 50.0), (1120.0, 100.0)],
        };
        let c = line_chart("CPU & more", &[s], Some(100.0), pct);
        assert!(c.svg.starts_with("<svg"));
        assert!(c.svg.contains("CPU &amp; more"));
        assert!(c.svg.contains("CPU &lt;used&gt;"), "labels are escaped");
        assert_eq!(c.svg.matches("<polyline").count(), 1);
        // First point at the left edge and bottom; last at the right edge and top.
        assert!(c
            .svg
            .contains(&format!("points=\"{LEFT:.1},{:.1} ", H - BOTTOM)));
        assert!(c.svg.contains(&format!(" {:.1},{TOP:.1}\"", W - RIGHT)));
        assert!(c.svg.contains(">100%<") && c.svg.contains(">0%<"));
    }

    #[test]
    fn wide_value_labels_move_the_frame_right_so_none_is_cut_off() {
        fn size(v: f64) -> String {
            crate::format::bytes(v)
        }
        let s = Series {
            label: "In use".into(),
            color: "#12b76a",
            points: vec![(0.0, 0.0), (60.0, 900.0 * 1024.0 * 1024.0)],
        };
        // 1023.9 MiB: its labels are the widest a byte axis has ("1023.90 MiB").
        let c = line_chart("Memory", &[s], Some(1023.9 * 1024.0 * 1024.0), size);
        let frame_x: f64 = c
            .svg
            .split("<rect x=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|x| x.parse().ok())
            .unwrap();
        assert!(frame_x > LEFT, "the frame moved right: {frame_x}");
        // Every value label, right-aligned at the frame less the gap, starts inside the SVG.
        for label in [
            "0 B",
            "255.97 MiB",
            "511.95 MiB",
            "767.92 MiB",
            "1023.90 MiB",
        ] {
            assert!(
                c.svg.contains(&format!(">{label}<")),
                "{label} in {}",
                c.svg
            );
            let start = frame_x - LABEL_GAP - text_width(label, LABEL_SIZE);
            assert!(start >= EDGE - 0.01, "{label} starts at {start}");
        }
        // A narrow axis keeps the usual margin.
        let p = line_chart(
            "CPU",
            &[Series {
                label: "CPU".into(),
                color: "#2456c9",
                points: vec![(0.0, 1.0), (1.0, 2.0)],
            }],
            Some(100.0),
            pct,
        );
        assert!(p.svg.contains(&format!("<rect x=\"{LEFT}\"")));
    }

    #[test]
    fn an_all_zero_rate_labels_zero_once() {
        fn per_second(v: f64) -> String {
            format!("{v:.0} B/s")
        }
        let s = Series {
            label: "rx".into(),
            color: "#000",
            points: vec![(0.0, 0.0), (10.0, 0.0), (20.0, 0.0)],
        };
        let c = line_chart("Network", &[s], None, per_second);
        assert_eq!(c.svg.matches(">0 B/s<").count(), 1, "{}", c.svg);
        // The scale is at least 1, as documented: its top is labelled.
        assert!(c.svg.contains(">1 B/s<"), "{}", c.svg);
        assert_eq!(c.svg.matches("stroke=\"#eef0f4\"").count(), 5);
    }

    #[test]
    fn too_few_samples_say_so() {
        let c = line_chart("Memory", &[], None, pct);
        assert!(c.svg.contains("No samples yet"));
        assert!(!c.svg.contains("<polyline"));
    }

    #[test]
    fn counters_become_rates_and_resets_are_skipped() {
        let r = rates(&[
            (0.0, 0.0),
            (10.0, 1000.0),
            (20.0, 3000.0),
            (30.0, 10.0),
            (40.0, 110.0),
        ]);
        assert_eq!(r, vec![(10.0, 100.0), (20.0, 200.0), (40.0, 10.0)]);
    }
}
