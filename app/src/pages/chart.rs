//! Charts drawn by hand in SVG: a sparkline, and a larger chart with axes,
//! of lines, bars and marks over a window of time (the last hour). The value
//! under the pointer and its exact time show in a tooltip that follows the
//! pointer; a chart also takes the keyboard's focus, and the arrow keys move
//! through its buckets (Home and End to the first and the newest).
//!
//! Only the pages that draw charts (the overview, a service, the cluster)
//! use this module: the split build moves code that only split functions
//! reach into their modules, so none of it is in the first wasm module.
//! Nothing here may be used by the shell, the status bar or the live state.
//!
//! Colours are the theme's (`style/main.css`, `.chart` and `.tone-*`), so a
//! chart reads the same in the light and the dark theme.

use leptos::prelude::*;

use crate::model::human_bytes;

/// A colour of the theme, for one plot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tone {
    Accent,
    Ok,
    Warn,
    Bad,
    Violet,
    Teal,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Accent => "tone-accent",
            Tone::Ok => "tone-ok",
            Tone::Warn => "tone-warn",
            Tone::Bad => "tone-bad",
            Tone::Violet => "tone-violet",
            Tone::Teal => "tone-teal",
        }
    }

    /// The `n`th colour of a chart of several like plots (one per member).
    pub fn nth(n: usize) -> Tone {
        [Tone::Accent, Tone::Violet, Tone::Teal, Tone::Warn, Tone::Ok, Tone::Bad][n % 6]
    }
}

/// How a plot is drawn.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Draw {
    /// A line through the buckets' values (a gauge).
    Line,
    /// A bar per bucket (a count); several bar plots stand side by side.
    Bars,
    /// A mark under each bucket whose value is above zero (something
    /// happened then), in a row of its own below the lines.
    Marks,
}

/// One plotted series: `[bucket start (unix seconds), value]`, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    pub label: String,
    pub tone: Tone,
    pub draw: Draw,
    pub points: Vec<(i64, f64)>,
}

/// What a chart shows: its plots, bucketed by `step` seconds, over the
/// `span` seconds that end with the newest bucket.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ChartData {
    pub step: i64,
    pub span: i64,
    pub plots: Vec<Plot>,
}

/// A value as a count: `12`, `3.5`.
pub fn count(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// A value as bytes: `20.0 KiB`.
pub fn bytes(value: f64) -> String {
    human_bytes(value.max(0.0) as i64)
}

/// A full chart's drawing box (the SVG's viewBox) and margins.
const FULL: Box2 = Box2 {
    w: 640.0,
    h: 200.0,
    left: 64.0,
    right: 10.0,
    top: 10.0,
    bottom: 24.0,
};
/// A sparkline's: no axes.
const SPARK: Box2 = Box2 {
    w: 160.0,
    h: 36.0,
    left: 2.0,
    right: 2.0,
    top: 3.0,
    bottom: 3.0,
};

#[derive(Clone, Copy, Debug, PartialEq)]
struct Box2 {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

/// Where everything goes: the time window, the value range and its ticks.
#[derive(Clone, Debug, PartialEq)]
struct Frame {
    area: Box2,
    start: i64,
    end: i64,
    step: i64,
    lo: f64,
    hi: f64,
    /// The value axis's labelled values (full charts).
    ticks: Vec<f64>,
}

impl Frame {
    /// `None` while no plot has a point.
    /// `binary`: the value ticks are round in powers of 1024 (bytes).
    fn new(data: &ChartData, spark: bool, zero: bool, binary: bool) -> Option<Frame> {
        let step = data.step.max(1);
        let newest = data.plots.iter().filter_map(|p| p.points.last()).map(|p| p.0).max()?;
        let end = newest + step;
        let start = end - data.span.max(step);
        let bars = data.plots.iter().any(|p| p.draw == Draw::Bars);
        let zero = zero || bars;
        let mut range: Option<(f64, f64)> = None;
        let mut integral = true;
        for plot in data.plots.iter().filter(|p| p.draw != Draw::Marks) {
            for &(_, v) in plot.points.iter().filter(|p| p.0 >= start && p.1.is_finite()) {
                integral &= v.fract() == 0.0;
                range = Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
            }
        }
        let (mut lo, mut hi) = range.unwrap_or((0.0, 1.0));
        if zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if hi - lo < 1e-9 {
            if lo >= 1.0 && !zero {
                lo -= 1.0;
                hi += 1.0;
            } else {
                hi = lo + 1.0;
            }
        }
        let mut ticks = Vec::new();
        if !spark {
            let mut tick = if binary {
                binary_step(hi - lo, 3.0)
            } else {
                nice_step(hi - lo, 3.0)
            };
            if integral {
                tick = tick.max(1.0);
            }
            lo = (lo / tick).floor() * tick;
            hi = (hi / tick).ceil() * tick;
            if hi <= lo {
                hi = lo + tick;
            }
            let mut at = lo;
            while at <= hi + tick * 1e-6 && ticks.len() < 12 {
                ticks.push(at);
                at += tick;
            }
        }
        Some(Frame {
            area: if spark { SPARK } else { FULL },
            start,
            end,
            step,
            lo,
            hi,
            ticks,
        })
    }

    fn plot_width(&self) -> f64 {
        self.area.w - self.area.left - self.area.right
    }

    fn bottom(&self) -> f64 {
        self.area.h - self.area.bottom
    }

    /// The x of a moment (seconds).
    fn x(&self, t: f64) -> f64 {
        let span = (self.end - self.start).max(1) as f64;
        self.area.left + (t - self.start as f64) / span * self.plot_width()
    }

    /// The x of a bucket's middle.
    fn mid(&self, bucket: i64) -> f64 {
        self.x(bucket as f64 + self.step as f64 / 2.0)
    }

    fn y(&self, value: f64) -> f64 {
        let range = (self.hi - self.lo).max(1e-9);
        let height = self.area.h - self.area.top - self.area.bottom;
        self.bottom() - (value - self.lo) / range * height
    }

    /// The bucket under `x` (in the viewBox's units), within the window.
    fn bucket_at(&self, x: f64) -> i64 {
        let span = (self.end - self.start) as f64;
        let t = (x - self.area.left) / self.plot_width() * span;
        let slots = ((self.end - self.start) / self.step).max(1);
        let slot = ((t / self.step as f64).floor() as i64).clamp(0, slots - 1);
        self.start + slot * self.step
    }

    fn newest(&self) -> i64 {
        self.end - self.step
    }

    /// `bucket` moved by `by` buckets, within the window.
    fn moved(&self, bucket: i64, by: i64) -> i64 {
        (bucket + by * self.step).clamp(self.start, self.newest())
    }
}

/// A round step (1, 2 or 5 times a power of ten) that cuts `range` in about `intervals`.
fn nice_step(range: f64, intervals: f64) -> f64 {
    let raw = (range / intervals).max(1e-9);
    let magnitude = 10f64.powi(raw.log10().floor() as i32);
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// [`nice_step`] in the largest power of 1024 the step is more than:
/// `8 KiB`, `512 KiB`, `2 MiB`.
fn binary_step(range: f64, intervals: f64) -> f64 {
    let mut unit = 1.0;
    while range / intervals >= unit * 1024.0 && unit < 1024f64.powi(5) {
        unit *= 1024.0;
    }
    nice_step(range / unit, intervals) * unit
}

/// The value of the bucket that starts at `t`.
fn value_at(points: &[(i64, f64)], t: i64) -> Option<f64> {
    points.binary_search_by_key(&t, |p| p.0).ok().map(|at| points[at].1)
}

/// A line through the points in the window, broken where buckets have no
/// point; a lone point is a dot (a zero-length stroke with round caps).
fn line_path(frame: &Frame, points: &[(i64, f64)]) -> String {
    let mut d = String::new();
    let mut previous: Option<i64> = None;
    let mut run = 0;
    for &(t, v) in points.iter().filter(|p| p.0 >= frame.start && p.1.is_finite()) {
        let (x, y) = (frame.mid(t), frame.y(v));
        let joined = previous.is_some_and(|p| t - p <= frame.step);
        if joined {
            d.push_str(&format!("L{x:.1} {y:.1}"));
            run += 1;
        } else {
            if run == 1 {
                d.push_str("h0.01");
            }
            d.push_str(&format!("M{x:.1} {y:.1}"));
            run = 1;
        }
        previous = Some(t);
    }
    if run == 1 {
        d.push_str("h0.01");
    }
    d
}

/// A bar per bucket above zero: the `index`th of `count` bar plots side by side.
fn bars_path(frame: &Frame, points: &[(i64, f64)], index: usize, count: usize) -> String {
    let slot = frame.x((frame.start + frame.step) as f64) - frame.x(frame.start as f64);
    let width = slot * 0.8 / count.max(1) as f64;
    let base = frame.y(0.0_f64.max(frame.lo));
    let mut d = String::new();
    for &(t, v) in points.iter().filter(|p| p.0 >= frame.start && p.1 > 0.0) {
        let x = frame.x(t as f64) + slot * 0.1 + width * index as f64;
        let top = frame.y(v).min(base - 1.0);
        d.push_str(&format!("M{x:.2} {base:.1}V{top:.1}h{width:.2}V{base:.1}Z"));
    }
    d
}

/// A small triangle under each bucket above zero, in row `row` (0: the lowest).
fn marks_path(frame: &Frame, points: &[(i64, f64)], row: usize) -> String {
    let y = frame.bottom() - 3.0 - 8.0 * row as f64;
    let mut d = String::new();
    for &(t, _) in points.iter().filter(|p| p.0 >= frame.start && p.1 > 0.0) {
        d.push_str(&format!("M{:.1} {y:.1}l-3 -5h6Z", frame.mid(t)));
    }
    d
}

/// A moment's date and clock time in the browser's zone (UTC elsewhere):
/// `(2026-12-06, 21:05:30)`.
pub(crate) fn date_and_clock(unix: i64) -> (String, String) {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix as f64 * 1000.0));
        (
            format!(
                "{:04}-{:02}-{:02}",
                date.get_full_year(),
                date.get_month() + 1,
                date.get_date()
            ),
            format!(
                "{:02}:{:02}:{:02}",
                date.get_hours(),
                date.get_minutes(),
                date.get_seconds()
            ),
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let days = unix.div_euclid(86_400);
        let second = unix.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        (
            format!("{year:04}-{month:02}-{day:02}"),
            format!("{:02}:{:02}:{:02}", second / 3600, second % 3600 / 60, second % 60),
        )
    }
}

/// A bucket's exact time: `2026-12-06 21:05:30 – 21:05:40`.
fn bucket_text(start: i64, step: i64) -> String {
    let (date, from) = date_and_clock(start);
    let (_, to) = date_and_clock(start + step);
    format!("{date} {from} – {to}")
}

/// A moment as RFC 3339 (UTC), for `<time datetime>`.
fn datetime(unix: i64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix as f64 * 1000.0));
        String::from(date.to_iso_string())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let (date, clock) = date_and_clock(unix);
        format!("{date}T{clock}Z")
    }
}

/// A chart of `data`: a sparkline (`spark`) or a chart with axes and a
/// legend. `format` writes a value; `zero` keeps zero in the value range
/// (always so with bars); `binary` rounds the value ticks in powers of 1024.
/// `name` is its `data-chart`, for tests.
#[component]
pub fn Chart(
    #[prop(into)] data: Signal<ChartData>,
    /// What the chart shows, in words (its accessible name).
    #[prop(into)]
    label: String,
    name: &'static str,
    #[prop(default = count)] format: fn(f64) -> String,
    #[prop(optional)] zero: bool,
    /// Round value ticks in powers of 1024 (bytes).
    #[prop(optional)]
    binary: bool,
    #[prop(optional)] spark: bool,
) -> impl IntoView {
    let frame = Memo::new(move |_| data.with(|d| Frame::new(d, spark, zero, binary)));
    // The start of the bucket under the pointer or the keyboard's focus.
    let hover = RwSignal::new(None::<i64>);
    // The plots' points in the window (the first plot's), for tests.
    let shown = Memo::new(move |_| {
        let start = frame.with(|f| f.as_ref().map(|f| f.start));
        data.with(|d| match (start, d.plots.first()) {
            (Some(start), Some(plot)) => plot.points.iter().filter(|p| p.0 >= start).count(),
            _ => 0,
        })
    });

    let on_move = move |ev: leptos::ev::PointerEvent| {
        use leptos::wasm_bindgen::JsCast;
        let Some(element) = ev
            .current_target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
        else {
            return;
        };
        let width = f64::from(element.client_width());
        if width <= 0.0 {
            return;
        }
        frame.with_untracked(|f| {
            if let Some(f) = f {
                let x = f64::from(ev.offset_x()) / width * f.area.w;
                let bucket = f.bucket_at(x);
                if hover.get_untracked() != Some(bucket) {
                    hover.set(Some(bucket));
                }
            }
        });
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let Some(f) = frame.get_untracked() else {
            return;
        };
        let now = hover.get_untracked().unwrap_or(f.newest());
        let next = match ev.key().as_str() {
            "ArrowLeft" => f.moved(now, -1),
            "ArrowRight" => f.moved(now, 1),
            "PageUp" => f.moved(now, -6),
            "PageDown" => f.moved(now, 6),
            "Home" => f.start,
            "End" => f.newest(),
            "Escape" => {
                hover.set(None);
                return;
            }
            _ => return,
        };
        ev.prevent_default();
        hover.set(Some(next));
    };
    let on_focus = move |_| {
        if hover.get_untracked().is_none() {
            if let Some(f) = frame.get_untracked() {
                hover.set(Some(f.newest()));
            }
        }
    };

    let svg = move || {
        let Some(f) = frame.get() else {
            return view! {
                <p class="chart-empty">"No samples yet: a point comes as each 10 s bucket closes."</p>
            }
            .into_any();
        };
        let bar_plots = data.with(|d| d.plots.iter().filter(|p| p.draw == Draw::Bars).count());
        let (mut bar_index, mut mark_row) = (0, 0);
        let plots = data.with(|d| {
            d.plots
                .iter()
                .map(|plot| {
                    let (class, path) = match plot.draw {
                        Draw::Line => ("chart-line", line_path(&f, &plot.points)),
                        Draw::Bars => {
                            bar_index += 1;
                            ("chart-bars", bars_path(&f, &plot.points, bar_index - 1, bar_plots))
                        }
                        Draw::Marks => {
                            mark_row += 1;
                            ("chart-marks", marks_path(&f, &plot.points, mark_row - 1))
                        }
                    };
                    view! { <path class=format!("{class} {}", plot.tone.class()) d=path data-testid=class/> }
                })
                .collect_view()
        });
        let axes = (!spark).then(|| {
            let grid = f
                .ticks
                .iter()
                .map(|&v| {
                    let y = format!("{:.1}", f.y(v));
                    view! {
                        <line class="chart-grid" x1=format!("{:.1}", f.area.left) x2=format!("{:.1}", f.area.w - f.area.right) y1=y.clone() y2=y.clone()/>
                        <text class="chart-label" x=format!("{:.1}", f.area.left - 6.0) y=y text-anchor="end" dominant-baseline="middle">{format(v)}</text>
                    }
                })
                .collect_view();
            // A time label every quarter hour (every 10 minutes in a shorter window).
            let every = if f.end - f.start > 1800 { 900 } else { 300 };
            let first = (f.start + every - 1).div_euclid(every) * every;
            let times = (0..8)
                .map(|i| first + i * every)
                .filter(|t| *t <= f.end)
                .map(|t| {
                    let x = f.x(t as f64);
                    let (_, clock) = date_and_clock(t);
                    view! {
                        <line class="chart-tick" x1=format!("{x:.1}") x2=format!("{x:.1}") y1=format!("{:.1}", f.bottom()) y2=format!("{:.1}", f.bottom() + 4.0)/>
                        <text class="chart-label" x=format!("{x:.1}") y=format!("{:.1}", f.area.h - 4.0) text-anchor="middle">{clock[..5].to_owned()}</text>
                    }
                })
                .collect_view();
            view! {
                {grid}
                <line class="chart-axis" x1=format!("{:.1}", f.area.left) x2=format!("{:.1}", f.area.w - f.area.right) y1=format!("{:.1}", f.bottom()) y2=format!("{:.1}", f.bottom())/>
                {times}
            }
        });
        // The bucket under the pointer: a guide, and a dot on each line.
        let guide = {
            let f = f.clone();
            move || {
                let t = hover.get()?;
                let x = format!("{:.1}", f.mid(t));
                let dots = data.with(|d| {
                    d.plots
                        .iter()
                        .filter(|p| p.draw == Draw::Line)
                        .filter_map(|p| {
                            let v = value_at(&p.points, t)?;
                            let cy = format!("{:.1}", f.y(v));
                            Some(view! { <circle class=format!("chart-dot {}", p.tone.class()) cx=x.clone() cy=cy r="3"/> })
                        })
                        .collect_view()
                });
                Some(view! {
                    <line class="chart-guide" x1=x.clone() x2=x.clone() y1=format!("{:.1}", f.area.top) y2=format!("{:.1}", f.bottom())/>
                    {dots}
                })
            }
        };
        view! {
            <svg
                viewBox=format!("0 0 {} {}", f.area.w, f.area.h)
                aria-hidden="true"
                focusable="false"
            >
                {axes}
                {plots}
                {guide}
            </svg>
        }
        .into_any()
    };

    // The tooltip: the bucket's exact time and each plot's value then.
    let tip = move || {
        let t = hover.get()?;
        let f = frame.get()?;
        let left = (f.mid(t) / f.area.w * 100.0).clamp(0.0, 100.0);
        let flip = left > 55.0;
        let rows = data.with(|d| {
            d.plots
                .iter()
                .map(|p| {
                    let value = value_at(&p.points, t).map_or_else(|| "no sample".to_owned(), format);
                    view! {
                        <li>
                            <span class=format!("swatch {}", p.tone.class()) aria-hidden="true"></span>
                            {p.label.clone()} ": " <strong data-testid="chart-tip-value">{value}</strong>
                        </li>
                    }
                })
                .collect_view()
        });
        Some(view! {
            <div
                class="chart-tip"
                class:flip=flip
                style=format!("left:{left:.1}%")
                data-testid="chart-tip"
                data-bucket=t.to_string()
            >
                <time datetime=datetime(t) data-testid="chart-tip-time">{bucket_text(t, f.step)}</time>
                <ul>{rows}</ul>
            </div>
        })
    };

    let legend = (!spark).then_some(move || {
            data.with(|d| {
                (d.plots.len() > 1).then(|| {
                    let items = d
                        .plots
                        .iter()
                        .map(|p| {
                            let shape = if p.draw == Draw::Marks { "swatch mark" } else { "swatch" };
                            view! {
                                <li><span class=format!("{shape} {}", p.tone.class()) aria-hidden="true"></span>{p.label.clone()}</li>
                            }
                        })
                        .collect_view();
                    view! { <ul class="chart-legend">{items}</ul> }
                })
            })
    });
    // The newest values, in words, for whoever does not see the chart.
    let summary = move || {
        data.with(|d| {
            let parts: Vec<String> = d
                .plots
                .iter()
                .filter_map(|p| p.points.last().map(|(_, v)| format!("{} {}", p.label, format(*v))))
                .collect();
            if parts.is_empty() {
                "no samples yet".to_owned()
            } else {
                format!("newest: {}", parts.join(", "))
            }
        })
    };

    let class = if spark { "chart spark" } else { "chart full" };
    let testid = if spark { "sparkline" } else { "chart" };
    view! {
        <figure class=class data-testid=testid data-chart=name data-points=move || shown.get().to_string()>
            <div
                class="chart-plot"
                tabindex="0"
                role="group"
                aria-label=format!("{label}: the arrow keys move through the buckets")
                on:pointermove=on_move
                on:pointerleave=move |_| hover.set(None)
                on:keydown=on_key
                on:focus=on_focus
                on:blur=move |_| hover.set(None)
            >
                {svg}
                <span class="sr-only">{summary}</span>
                <div class="chart-tip-live" aria-live="polite">{tip}</div>
            </div>
            {legend}
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(points: Vec<(i64, f64)>, draw: Draw) -> ChartData {
        ChartData {
            step: 10,
            span: 3600,
            plots: vec![Plot {
                label: "instances".into(),
                tone: Tone::Accent,
                draw,
                points,
            }],
        }
    }

    #[test]
    fn the_window_ends_with_the_newest_bucket() {
        let frame = Frame::new(&data(vec![(1000, 3.0), (1010, 5.0)], Draw::Line), false, true, false);
        let frame = frame.unwrap_or_else(|| panic!("a frame"));
        assert_eq!((frame.start, frame.end), (1020 - 3600, 1020));
        assert_eq!(frame.lo, 0.0);
        assert!(frame.hi >= 5.0);
        assert_eq!(frame.ticks.first(), Some(&0.0));
        // The newest bucket is at the right edge, the first at the left.
        assert_eq!(frame.bucket_at(FULL.w - FULL.right - 0.1), 1010);
        assert_eq!(frame.bucket_at(FULL.left), frame.start);
        assert_eq!(frame.bucket_at(-50.0), frame.start);
        assert_eq!(frame.bucket_at(FULL.w + 50.0), 1010);
        assert_eq!(frame.moved(1010, 1), 1010);
        assert_eq!(frame.moved(1010, -2), 990);
        assert!(Frame::new(&data(vec![], Draw::Line), false, true, false).is_none());
    }

    #[test]
    fn ranges_ticks_and_flat_lines() {
        // Not from zero: a sparkline spans its values.
        let spark = Frame::new(&data(vec![(0, 100.0), (10, 104.0)], Draw::Line), true, false, false);
        let spark = spark.unwrap_or_else(|| panic!("a frame"));
        assert_eq!((spark.lo, spark.hi), (100.0, 104.0));
        assert!(spark.ticks.is_empty());
        // A constant line sits in the middle.
        let flat = Frame::new(&data(vec![(0, 7.0), (10, 7.0)], Draw::Line), true, false, false);
        let flat = flat.unwrap_or_else(|| panic!("a frame"));
        assert_eq!((flat.lo, flat.hi), (6.0, 8.0));
        // Counts tick by whole numbers.
        let small = Frame::new(&data(vec![(0, 1.0), (10, 2.0)], Draw::Bars), false, false, false);
        let small = small.unwrap_or_else(|| panic!("a frame"));
        assert_eq!(small.ticks, [0.0, 1.0, 2.0]);
        assert_eq!(nice_step(1000.0, 3.0), 500.0);
        assert_eq!(nice_step(90.0, 3.0), 50.0);
        assert_eq!(nice_step(0.3, 3.0), 0.1);
        assert_eq!(binary_step(30.0 * 1024.0, 3.0), 10.0 * 1024.0);
        assert_eq!(binary_step(3.0 * 1024.0 * 1024.0, 3.0), 1024.0 * 1024.0);
        assert_eq!(binary_step(90.0, 3.0), 50.0);
    }

    #[test]
    fn lines_break_at_gaps_and_lone_points_are_dots() {
        let frame = Frame::new(
            &data(vec![(0, 1.0), (10, 2.0), (40, 3.0)], Draw::Line),
            false,
            true,
            false,
        );
        let frame = frame.unwrap_or_else(|| panic!("a frame"));
        let d = line_path(&frame, &[(0, 1.0), (10, 2.0), (40, 3.0)]);
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert!(d.ends_with("h0.01"), "{d}");
        let bars = bars_path(&frame, &[(0, 1.0), (10, 0.0), (40, 3.0)], 0, 1);
        assert_eq!(bars.matches('Z').count(), 2, "{bars}");
        let marks = marks_path(&frame, &[(0, 1.0), (10, 0.0)], 0);
        assert_eq!(marks.matches('Z').count(), 1, "{marks}");
    }

    #[test]
    fn values_and_times_read_exactly() {
        assert_eq!(value_at(&[(0, 1.0), (10, 2.0)], 10), Some(2.0));
        assert_eq!(value_at(&[(0, 1.0), (10, 2.0)], 20), None);
        assert_eq!(count(3.0), "3");
        assert_eq!(count(2.5), "2.5");
        assert_eq!(bytes(20.0 * 1024.0), "20.0 KiB");
        // 2026-12-06 21:05:30 UTC.
        assert_eq!(bucket_text(1_796_591_130, 10), "2026-12-06 21:05:30 – 21:05:40");
        assert_eq!(datetime(1_796_591_130), "2026-12-06T21:05:30Z");
    }
}
