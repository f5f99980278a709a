//! The reports' charts: SVG drawn on the server with `plotters`, inlined
//! into the page (no script, no CDN). Every chart's numbers are also in a
//! table beside it, which is what screen readers get: the SVG is one image
//! with a name.

use plotters::prelude::*;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 300;
const FONT: &str = "sans-serif";

/// Okabe–Ito colours: told apart with every common colour-vision deficiency.
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub const SKY: RGBColor = RGBColor(86, 180, 233);
pub const PURPLE: RGBColor = RGBColor(204, 121, 167);

/// One series of a chart: its name in the legend, a value per category.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<Option<f64>>,
    pub color: RGBColor,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Bars {
    /// Each series on top of the one before.
    Stacked,
    /// Each series in front of the one before, narrower (a funnel).
    Nested,
}

/// Names the SVG for assistive technology; plotters writes a bare `<svg>`.
fn named(svg: String, label: &str) -> String {
    let label = label.replace(['"', '<', '>', '&'], " ");
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" class=\"chart\" "),
        1,
    )
}

/// Every x label when they fit, else about a dozen.
fn label_count(n: usize) -> usize {
    n.clamp(1, 12)
}

fn max_of(series: &[Series<'_>], stacked: bool, n: usize) -> f64 {
    let mut max: f64 = 0.0;
    for i in 0..n {
        let values = series
            .iter()
            .map(|s| s.values.get(i).copied().flatten().unwrap_or(0.0));
        let top = if stacked {
            values.sum()
        } else {
            values.fold(0.0, f64::max)
        };
        max = max.max(top);
    }
    if max <= 0.0 { 1.0 } else { max * 1.1 }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Drawn = Result<(), Box<dyn std::error::Error>>;
type Segmented<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<
        plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordusize>,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// Draws one chart into an SVG string named `label`; empty when drawing
/// failed (the table beside it still has the numbers).
fn svg(label: &str, height: u32, draw: impl FnOnce(&Area<'_>) -> Drawn) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string().into())
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(|e| e.to_string().into()))
    };
    match drawn {
        Ok(()) => named(svg, label),
        Err(_) => String::new(),
    }
}

/// Axes for values over categories (one segment each, labelled).
fn over_categories<'a, 'b>(
    root: &'a Area<'b>,
    categories: &[String],
    max: f64,
    y_desc: &str,
) -> Result<Segmented<'a, 'b>, Box<dyn std::error::Error>> {
    let n = categories.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d((0..n).into_segmented(), 0f64..max)
        .map_err(|e| e.to_string())?;
    let format_x = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => categories.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(label_count(n))
        .x_label_formatter(&format_x)
        .y_desc(y_desc)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

fn legend<'a, 'b: 'a>(chart: &mut Segmented<'a, 'b>) -> Drawn {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A bar chart over categories.
pub fn bars(
    label: &str,
    categories: &[String],
    series: &[Series<'_>],
    kind: Bars,
    y_desc: &str,
) -> String {
    let n = categories.len().max(1);
    svg(label, HEIGHT, |root| {
        let max = max_of(series, kind == Bars::Stacked, n);
        let mut chart = over_categories(root, categories, max, y_desc)?;
        let mut base = vec![0f64; n];
        for (k, s) in series.iter().enumerate() {
            let color = s.color;
            let inset = match kind {
                Bars::Stacked => 4,
                Bars::Nested => 4 + 8 * k as u32,
            };
            let mut rects = Vec::new();
            for (i, value) in s.values.iter().enumerate().take(n) {
                let value = value.unwrap_or(0.0);
                let (y0, y1) = match kind {
                    Bars::Stacked => (base[i], base[i] + value),
                    Bars::Nested => (0.0, value),
                };
                base[i] = y1;
                let mut rect = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), y1),
                        (SegmentValue::Exact(i + 1), y0),
                    ],
                    color.filled(),
                );
                rect.set_margin(0, 0, inset, inset);
                rects.push(rect);
            }
            chart
                .draw_series(rects)
                .map_err(|e| e.to_string())?
                .label(s.name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        legend(&mut chart)
    })
}

/// Lines over categories (gaps where a value is unknown).
pub fn lines(label: &str, categories: &[String], series: &[Series<'_>], y_desc: &str) -> String {
    let n = categories.len().max(1);
    svg(label, HEIGHT, |root| {
        let mut chart = over_categories(root, categories, max_of(series, false, n), y_desc)?;
        for s in series {
            let color = s.color;
            let points: Vec<(SegmentValue<usize>, f64)> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (SegmentValue::CenterOf(i), v)))
                .collect();
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| Circle::new(p.clone(), 4, color.filled())),
                )
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(3)))
                .map_err(|e| e.to_string())?
                .label(s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(3))
                });
        }
        legend(&mut chart)
    })
}

/// Contacts by weekday and hour, darker for more.
pub fn heatmap(label: &str, rows: &[String], counts: &[[u64; 24]; 7]) -> String {
    svg(label, 260, |root| {
        let max = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(48)
            .build_cartesian_2d((0..24usize).into_segmented(), (0..7usize).into_segmented())
            .map_err(|e| e.to_string())?;
        let format_y = |v: &SegmentValue<usize>| match v {
            // Monday on top.
            SegmentValue::CenterOf(i) => rows.get(6 - (*i).min(6)).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let format_x = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(h) => format!("{h:02}"),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(24)
            .y_labels(7)
            .x_label_formatter(&format_x)
            .y_label_formatter(&format_y)
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(counts.iter().enumerate().flat_map(|(day, hours)| {
                hours.iter().enumerate().map(move |(hour, &count)| {
                    let share = count as f64 / max;
                    let shade =
                        |full: u8| (255.0 - (255.0 - f64::from(full)) * share).round() as u8;
                    let color = RGBColor(shade(BLUE.0), shade(BLUE.1), shade(BLUE.2));
                    let row = 6 - day;
                    let mut rect = Rectangle::new(
                        [
                            (SegmentValue::Exact(hour), SegmentValue::Exact(row)),
                            (SegmentValue::Exact(hour + 1), SegmentValue::Exact(row + 1)),
                        ],
                        color.filled(),
                    );
                    rect.set_margin(1, 1, 1, 1);
                    rect
                })
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}
