//! `--plot FILE.svg`: sorted CPU shares against the ideal line (`bench fair`, `run`), a
//! bar per weight or group against its ideal (`bench fair --weights` / `--groups`), and
//! wake's latency distribution (its CDF), drawn with plotters' SVG backend.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

/// What a workload hands over to be drawn.
#[derive(Debug)]
pub(crate) enum Data {
    /// CPU shares relative to the mean, sorted ascending, and what they measured.
    Shares {
        shares: Vec<f64>,
        measure: &'static str,
    },
    /// Wake-up latencies in µs, sorted ascending.
    Latencies(Vec<f64>),
    /// The CPU of each part (a weight, a group) against its ideal share: `(name, got /
    /// ideal)`, one bar each.
    Parts {
        parts: Vec<(String, f64)>,
        measure: &'static str,
    },
}

/// The picture's size in pixels.
const SIZE: (u32, u32) = (900, 540);

pub(crate) fn draw(path: &Path, data: &Data) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    match data {
        Data::Shares { shares, measure } => shares_chart(&root, shares, measure),
        Data::Latencies(us) => latency_chart(&root, us),
        Data::Parts { parts, measure } => parts_chart(&root, parts, measure),
    }
    .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn shares_chart(root: &Area<'_>, shares: &[f64], measure: &str) -> DrawResult {
    let n = shares.len().max(1);
    let hi = shares.iter().copied().fold(1.0_f64, f64::max) * 1.05;
    let lo = shares.iter().copied().fold(1.0_f64, f64::min).min(0.9) * 0.95;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("CPU share of {n} processes, sorted"),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0..n, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("process (sorted by share)")
        .y_desc("share / fair share")
        .draw()?;
    chart
        .draw_series(LineSeries::new([(0, 1.0), (n, 1.0)], RED.stroke_width(2)))?
        .label("ideal")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .draw_series(LineSeries::new(
            shares.iter().enumerate().map(|(i, &s)| (i, s)),
            BLUE.stroke_width(2),
        ))?
        .label(format!("measured ({measure})"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    Ok(())
}

fn parts_chart(root: &Area<'_>, parts: &[(String, f64)], measure: &str) -> DrawResult {
    let k = parts.len().max(1);
    let hi = parts.iter().map(|p| p.1).fold(1.0_f64, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("CPU of each part against its ideal share ({measure})"),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..k as f64, 0.0..hi)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("share / ideal share")
        .draw()?;
    chart.draw_series(parts.iter().enumerate().map(|(i, (_, v))| {
        let x = i as f64;
        Rectangle::new([(x + 0.2, 0.0), (x + 0.8, *v)], BLUE.filled())
    }))?;
    // Each bar's name and figure above it.
    chart.draw_series(parts.iter().enumerate().map(|(i, (name, v))| {
        Text::new(
            format!("{name}: {v:.3}"),
            (i as f64 + 0.2, v + hi * 0.02),
            ("sans-serif", 14),
        )
    }))?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 1.0), (k as f64, 1.0)],
            RED.stroke_width(2),
        ))?
        .label("ideal")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    Ok(())
}

fn latency_chart(root: &Area<'_>, us: &[f64]) -> DrawResult {
    let n = us.len().max(1);
    let hi = us.last().copied().unwrap_or(1.0).max(1.0) * 1.05;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Lateness of {n} one-millisecond sleeps"),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..hi, 0.0..100.0)?;
    chart
        .configure_mesh()
        .x_desc("lateness (µs)")
        .y_desc("% of wake-ups at most this late")
        .draw()?;
    chart.draw_series(LineSeries::new(
        us.iter()
            .enumerate()
            .map(|(i, &x)| (x, 100.0 * (i + 1) as f64 / n as f64)),
        BLUE.stroke_width(2),
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chart_draws_an_svg_with_its_axis_labels() {
        let dir = std::env::temp_dir();
        let shares = dir.join(format!("shoal-shares-{}.svg", std::process::id()));
        draw(
            &shares,
            &Data::Shares {
                shares: vec![0.98, 1.0, 1.02],
                measure: "fuel",
            },
        )
        .unwrap();
        let svg = std::fs::read_to_string(&shares).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("share / fair share"));
        let latency = dir.join(format!("shoal-wake-{}.svg", std::process::id()));
        draw(&latency, &Data::Latencies(vec![10.0, 20.0, 400.0])).unwrap();
        let svg = std::fs::read_to_string(&latency).unwrap();
        assert!(svg.contains("lateness"));
        let parts = dir.join(format!("shoal-parts-{}.svg", std::process::id()));
        draw(
            &parts,
            &Data::Parts {
                parts: vec![("weight 1".into(), 0.97), ("weight 8".into(), 1.01)],
                measure: "fuel",
            },
        )
        .unwrap();
        let svg = std::fs::read_to_string(&parts).unwrap();
        assert!(svg.contains("share / ideal share") && svg.contains("weight 8"));
        std::fs::remove_file(shares).ok();
        std::fs::remove_file(latency).ok();
        std::fs::remove_file(parts).ok();
    }
}
