//! The console's "Venue now" page (`/console/venue`): the whole venue's figures of one
//! venue day ([`crate::venue_now`]) as charts drawn on the server in inline SVG, each
//! also a table (`/console/venue/CHART/table`), a CSV file (`.../csv`) and a picture
//! (`.../svg`). `?date=YYYY-MM-DD` picks the day (the venue's today by default); the page
//! keeps itself current through server-sent events (`/console/venue/events`).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use expo_kiosk::stats::{format_value, series_colour, Chart, ChartKind};

use super::auth::{Page, Session};
use super::html::{self, escape};
use super::i18n::{Lang, T};
use super::{live_events, Answer, Console, Visit};
use crate::store::HubStore;
use crate::venue_now::{SharedDay, VenueNowError, CHARTS};

#[derive(Deserialize)]
pub(super) struct DayQuery {
    date: Option<String>,
}

/// The day asked for (`None`: the venue's today), or the page saying how to write one.
#[allow(clippy::result_large_err)] // the `Err` is the answer a handler returns as is
fn asked_day(
    visit: &Visit,
    session: &Session,
    query: Result<Query<DayQuery>, QueryRejection>,
) -> Result<Option<NaiveDate>, Response> {
    let text = query.ok().map(|Query(q)| q.date.unwrap_or_default());
    match text.as_deref().map(str::trim) {
        Some("") => Ok(None),
        Some(text) => {
            if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                return Ok(Some(date));
            }
            Err(refused(visit, session, StatusCode::BAD_REQUEST, T::BadDate))
        }
        None => Err(refused(visit, session, StatusCode::BAD_REQUEST, T::BadDate)),
    }
}

fn refused(visit: &Visit, session: &Session, status: StatusCode, why: T) -> Response {
    let body =
        html::message(visit.lang, T::VenueNow, Some((session, Page::Venue)), why.get(visit.lang));
    visit.html(status, body)
}

/// The figures of the day and the venue's today, or the page to show instead.
async fn figures<S: HubStore>(
    console: &Console<S>,
    visit: &Visit,
    session: &Session,
    date: Option<NaiveDate>,
) -> Result<(Arc<SharedDay>, NaiveDate), Response> {
    match console.venue.day(&console.store, date, console.config.clock.now()).await {
        Ok(figures) => Ok(figures),
        Err(VenueNowError::Store(error)) => Err(visit.storage_failed(error)),
        Err(VenueNowError::NoEvent) => Err(refused(visit, session, StatusCode::OK, T::NoEvent)),
        Err(error) => {
            tracing::error!(%error, "console: cannot compute the venue's figures");
            let text = error.to_string();
            let body = html::message(visit.lang, T::VenueNow, Some((session, Page::Venue)), &text);
            Err(visit.html(StatusCode::INTERNAL_SERVER_ERROR, body))
        }
    }
}

pub(super) async fn page<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    query: Result<Query<DayQuery>, QueryRejection>,
) -> Answer {
    let session = visit.require(&console, Page::Venue, None).await?;
    let date = asked_day(&visit, &session, query)?;
    let (day, today) = figures(&console, &visit, &session, date).await?;
    let venue = &day.venue;
    let lang = visit.lang;
    // Showing today, the live page follows the venue's day past midnight; a day asked
    // for stays that day.
    let stream = match date {
        Some(day) => format!("date={day}"),
        None => format!("today={today}"),
    };
    let body = format!(
        "<p><strong>{event}</strong> · {local} ({tz}) · \
         <span id=\"live\" class=\"muted\">{live} ●</span></p>\
         <div id=\"venue-day-view\">{day_view}</div>\
         <script>\
         const events = new EventSource('/console/venue/events?{stream}');\
         const live = document.getElementById('live');\
         events.addEventListener('venue', (e) => {{\
           document.getElementById('venue-day-view').innerHTML = e.data;\
           live.textContent = '{live} ● ' + new Date().toLocaleTimeString('{locale}', {{ timeZone: '{tz}', hour12: false }});\
         }});\
         events.addEventListener('signed_out', () => {{ events.close(); location.href = '/console/sign-in'; }});\
         events.onerror = () => {{ live.textContent = '{live} ○'; }};\
         </script>",
        event = escape(&venue.definition.event.name),
        local = T::LocalTime.get(lang),
        tz = escape(&venue.figures.timezone),
        live = T::Live.get(lang),
        // The update time in the venue's zone, as every figure on the page.
        locale = if lang == Lang::ZhCn { "zh-CN" } else { "en-GB" },
        day_view = day_view(lang, &day, today, None),
    );
    Ok(visit
        .html(StatusCode::OK, html::page(lang, T::VenueNow, Some((&session, Page::Venue)), &body)))
}

/// The day shown, the links to other days and the charts: what a live update replaces.
/// `today` is the venue's today; `opened_on` is the venue's today when the page opened on
/// today, if that has passed: then the page says the day changed, with the day before one
/// click away.
fn day_view(
    lang: Lang,
    shared: &SharedDay,
    today: NaiveDate,
    opened_on: Option<NaiveDate>,
) -> String {
    let day = shared.venue.date;
    let link =
        |date: NaiveDate, text: &str| format!("<a href=\"/console/venue?date={date}\">{text}</a>");
    let yesterday = today.pred_opt().unwrap_or(today);
    let mut days = vec![link(day.pred_opt().unwrap_or(day), T::DayBefore.get(lang))];
    days.push(format!("<a href=\"/console/venue\">{}</a>", T::Today.get(lang)));
    days.push(link(yesterday, T::Yesterday.get(lang)));
    if day < today {
        days.push(link(day.succ_opt().unwrap_or(day), T::DayAfter.get(lang)));
    }
    let changed = match opened_on {
        Some(opened) if opened != today => format!(
            "<p class=\"notice\" id=\"day-changed\">{changed} {today} · {show}</p>",
            changed = T::VenueDayChanged.get(lang),
            show = link(yesterday, &format!("{} {yesterday}", T::ShowYesterday.get(lang))),
        ),
        _ => String::new(),
    };
    format!(
        "{changed}<p><span id=\"venue-day\">{day}</span> · <span id=\"days\">{days}</span></p>\
         <div id=\"venue-charts\">{charts}</div>",
        days = days.join(" · "),
        charts = chart_sections(lang, shared),
    )
}

/// Every chart with its links to the table, the CSV and the picture.
fn chart_sections(lang: Lang, shared: &SharedDay) -> String {
    let mut sections = String::new();
    for chart in &shared.charts {
        let key = chart.id.key();
        let date = shared.venue.date;
        let _ = write!(
            sections,
            "<section class=\"chart\" id=\"chart-{key}\" style=\"background:#fff;padding:1em;margin:1em 0\"><h2>{title}</h2>\
             <p><a href=\"/console/venue/{key}/table?date={date}\">{table}</a> · \
             <a href=\"/console/venue/{key}/csv?date={date}\" download>{csv}</a> · \
             <a href=\"/console/venue/{key}/svg?date={date}\" download>{picture}</a></p>{svg}</section>",
            title = chart.title(lang == Lang::En),
            table = T::ShowTable.get(lang),
            csv = T::DownloadCsv.get(lang),
            picture = T::DownloadPicture.get(lang),
            svg = chart_svg(lang, chart),
        );
    }
    sections
}

/// What the live page asks for: a day (`date`), or today as it was when the page opened
/// (`today`), which the stream follows past the venue's midnight.
#[derive(Deserialize)]
pub(super) struct StreamQuery {
    date: Option<String>,
    today: Option<String>,
}

/// The day view again every [`super::ConsoleConfig::fleet_refresh`].
pub(super) async fn events<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Response {
    let lang = visit.lang;
    let (date, opened_on) = match query {
        Ok(Query(query)) => (day_of(query.date), day_of(query.today)),
        Err(_) => (None, None),
    };
    live_events(console, visit, Page::Venue, "venue", move |console| async move {
        let now = console.config.clock.now();
        match console.venue.day(&console.store, date, now).await {
            Ok((day, today)) => {
                Some(day_view(lang, &day, today, opened_on.filter(|_| date.is_none())))
            }
            Err(error) => {
                tracing::error!(%error, "console: cannot compute the venue's figures");
                None
            }
        }
    })
    .await
}

fn day_of(text: Option<String>) -> Option<NaiveDate> {
    text.and_then(|text| NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok())
}

/// One chart as a table page, a CSV file or an SVG picture.
pub(super) async fn chart<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    Path((key, format)): Path<(String, String)>,
    query: Result<Query<DayQuery>, QueryRejection>,
) -> Answer {
    let session = visit.require(&console, Page::Venue, None).await?;
    let Some(id) = CHARTS.into_iter().find(|id| id.key() == key) else {
        return Err(refused(&visit, &session, StatusCode::NOT_FOUND, T::NotFound));
    };
    let date = asked_day(&visit, &session, query)?;
    let (day, _) = figures(&console, &visit, &session, date).await?;
    let venue = &day.venue;
    let Some(chart) = day.charts.iter().find(|chart| chart.id == id) else {
        return Err(refused(&visit, &session, StatusCode::NOT_FOUND, T::NotFound));
    };
    let lang = visit.lang;
    let file = format!("venue-{key}-{}", venue.date);
    match format.as_str() {
        "table" => {
            let body = format!(
                "<p><a href=\"/console/venue?date={date}\">{back}</a> · {day}</p>\
                 <h2>{title}</h2>{table}",
                date = venue.date,
                back = T::Back.get(lang),
                day = venue.date,
                title = chart.title(lang == Lang::En),
                table = chart_table(lang, chart),
            );
            Ok(visit.html(
                StatusCode::OK,
                html::page(lang, T::VenueNow, Some((&session, Page::Venue)), &body),
            ))
        }
        "csv" => match chart.to_csv(lang == Lang::En) {
            Ok(bytes) => Ok(download(bytes, "text/csv; charset=utf-8", &file, "csv")),
            Err(error) => {
                tracing::error!(%error, "console: cannot write a chart's CSV");
                Err(refused(&visit, &session, StatusCode::INTERNAL_SERVER_ERROR, T::NoFigures))
            }
        },
        "svg" => Ok(download(chart_svg(lang, chart).into_bytes(), "image/svg+xml", &file, "svg")),
        _ => Err(refused(&visit, &session, StatusCode::NOT_FOUND, T::NotFound)),
    }
}

fn download(bytes: Vec<u8>, content_type: &'static str, file: &str, extension: &str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The file name is made of a chart key and a date only.
    let disposition = format!("attachment; filename=\"{file}.{extension}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The chart as an HTML table: its x labels down the first column, a column per series.
pub fn chart_table(lang: Lang, chart: &Chart) -> String {
    let english = lang == Lang::En;
    let mut head = String::from("<th></th>");
    for series in &chart.series {
        let _ = write!(head, "<th>{}</th>", escape(series.label.text(english)));
    }
    let mut rows = String::new();
    for (index, x) in chart.x.iter().enumerate() {
        let _ = write!(rows, "<tr><td>{}</td>", escape(x.text(english)));
        for series in &chart.series {
            let value = series.values.get(index).copied().unwrap_or(0.0);
            let _ = write!(rows, "<td>{}</td>", format_value(value));
        }
        rows.push_str("</tr>");
    }
    if chart.x.is_empty() {
        rows = format!("<tr><td>{}</td></tr>", T::NoFigures.get(lang));
    }
    format!(
        "<table class=\"figures\" data-chart=\"{}\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>",
        chart.id.key()
    )
}

const WIDTH: f64 = 1200.0;
const HEIGHT: f64 = 380.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 80.0;
const LEGEND: f64 = 220.0;
const LEGEND_ROWS: usize = 16;

fn colour(index: usize) -> String {
    let [r, g, b] = series_colour(index);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// A round step of the value axis: about five steps up to `max`.
fn axis_step(max: f64) -> f64 {
    let rough = (max / 5.0).max(1.0);
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(rough)
}

/// Long names (companies, desks) cut so the labels stay apart.
fn short(text: &str) -> String {
    const MAX_CHARS: usize = 18;
    if text.chars().count() <= MAX_CHARS {
        return escape(text);
    }
    let cut: String = text.chars().take(MAX_CHARS - 1).collect();
    format!("{}…", escape(&cut))
}

/// The chart as a standalone SVG picture: a value axis with round steps, labelled bars
/// (stacked per series) or a line per series, the x labels under the plot and a legend.
pub fn chart_svg(lang: Lang, chart: &Chart) -> String {
    let english = lang == Lang::En;
    let title = escape(chart.title(english));
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"{key}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" \
         style=\"max-width:100%;height:auto\" \
         font-family=\"system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif\" font-size=\"13\">\
         <title>{title}</title><rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#fff\"/>\
         <text x=\"{LEFT}\" y=\"24\" font-size=\"16\" font-weight=\"600\">{title}</text>",
        key = chart.id.key(),
    );
    let plot_w = WIDTH - LEFT - LEGEND;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bottom = TOP + plot_h;
    let count = chart.x.len();
    if count == 0 || chart.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" fill=\"#6b7280\">{}</text></svg>",
            T::NoFigures.get(lang),
            x = LEFT + plot_w / 2.0,
            y = TOP + plot_h / 2.0,
        );
        return svg;
    }
    let value =
        |series: usize, x: usize| chart.series[series].values.get(x).copied().unwrap_or(0.0);
    let stacked = chart.kind == ChartKind::StackedBars;
    let max = (0..count)
        .map(|x| {
            let values = (0..chart.series.len()).map(|s| value(s, x));
            if stacked {
                values.sum()
            } else {
                values.fold(0.0, f64::max)
            }
        })
        .fold(0.0, f64::max);
    let step = axis_step(max);
    let top_value = (max / step).ceil().max(1.0) * step;
    let y_of = |v: f64| bottom - v / top_value * plot_h;
    // The value axis: a grid line and a figure at each step.
    let mut tick = 0.0;
    while tick <= top_value {
        let y = y_of(tick);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{x2}\" y2=\"{y:.1}\" stroke=\"#dde1e8\"/>\
             <text x=\"{x}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"#4b5563\">{label}</text>",
            x2 = LEFT + plot_w,
            x = LEFT - 8.0,
            ty = y + 4.0,
            label = format_value(tick),
        );
        tick += step;
    }
    let slot = plot_w / count as f64;
    let centre = |x: usize| LEFT + slot * (x as f64 + 0.5);
    match chart.kind {
        ChartKind::Lines => {
            for (s, series) in chart.series.iter().enumerate() {
                let points: Vec<String> = (0..series.values.len().min(count))
                    .map(|x| format!("{:.1},{:.1}", centre(x), y_of(value(s, x))))
                    .collect();
                let _ = write!(
                    svg,
                    "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{p}\">\
                     <title>{name}</title></polyline>",
                    c = colour(s),
                    p = points.join(" "),
                    name = escape(series.label.text(english)),
                );
            }
        }
        ChartKind::StackedBars | ChartKind::Bars => {
            let bar = (slot * 0.7).max(1.0);
            for x in 0..count {
                let mut base = 0.0;
                for s in 0..chart.series.len() {
                    let v = value(s, x);
                    if v <= 0.0 {
                        continue;
                    }
                    let (y, h) = (y_of(base + v), v / top_value * plot_h);
                    let _ = write!(
                        svg,
                        "<rect x=\"{bx:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{c}\">\
                         <title>{name}: {v}</title></rect>",
                        bx = centre(x) - bar / 2.0,
                        c = colour(s),
                        name = escape(chart.series[s].label.text(english)),
                        v = format_value(v),
                    );
                    if stacked {
                        base += v;
                    } else {
                        base = base.max(v);
                    }
                }
                if base > 0.0 {
                    let _ = write!(
                        svg,
                        "<text x=\"{cx:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"12\">{label}</text>",
                        cx = centre(x),
                        y = y_of(base) - 4.0,
                        label = format_value(base),
                    );
                }
            }
        }
    }
    // The x labels: every one while they fit, else every few; slanted when there are many.
    let every = (count as f64 / 24.0).ceil().max(1.0) as usize;
    let slanted = count > 12 || chart.kind == ChartKind::Bars;
    for (x, label) in chart.x.iter().enumerate().step_by(every) {
        let (cx, y) = (centre(x), bottom + 16.0);
        let text = short(label.text(english));
        if slanted {
            let _ = write!(
                svg,
                "<text x=\"{cx:.1}\" y=\"{y:.1}\" text-anchor=\"end\" \
                 transform=\"rotate(-30 {cx:.1} {y:.1})\">{text}</text>"
            );
        } else {
            let _ = write!(
                svg,
                "<text x=\"{cx:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">{text}</text>"
            );
        }
    }
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{x2}\" y2=\"{bottom}\" stroke=\"#4b5563\"/>",
        x2 = LEFT + plot_w
    );
    // The legend, when there is more than one series to tell apart.
    if chart.series.len() > 1 {
        let x = LEFT + plot_w + 20.0;
        for (s, series) in chart.series.iter().enumerate().take(LEGEND_ROWS) {
            let y = TOP + 20.0 * s as f64;
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{c}\"/>\
                 <text x=\"{tx}\" y=\"{ty}\">{name}</text>",
                c = colour(s),
                tx = x + 18.0,
                ty = y + 11.0,
                name = short(series.label.text(english)),
            );
        }
        if chart.series.len() > LEGEND_ROWS {
            let y = TOP + 20.0 * LEGEND_ROWS as f64 + 11.0;
            let _ = write!(svg, "<text x=\"{x}\" y=\"{y}\">…</text>");
        }
    }
    svg.push_str("</svg>");
    svg
}
