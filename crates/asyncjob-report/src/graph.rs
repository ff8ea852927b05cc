//! The graph of the instance, laid out in-process by `layout-rs` (layered, with fewer crossings
//! and edges routed around the boxes) and written as inline SVG here.
//!
//! `layout-rs` only places the shapes: it hands each box and each edge's Bézier path to a
//! [`RenderBackend`], and this module's backend, [`Collect`], keeps them. The SVG is then
//! written from the snapshot, so every text and attribute in it is this crate's, escaped (the
//! backend never sees a name: each shape carries only a token naming the step or the edge).

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use asyncjob::visual::{fill_color, format_count, format_duration, line_color};
use asyncjob::{CriticalPath, JobSnapshot, StepState};
use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

use crate::html::{escape_into, num, shorten};

/// How many characters of a name a box shows (its tooltip has the whole name).
const LABEL_CHARS: usize = 40;
/// The width given to a character of a box's label, at the page's 12 px sans-serif.
const CHAR_WIDTH: f64 = 7.0;
const BOX_HEIGHT: f64 = 40.0;
const MARGIN: f64 = 12.0;

/// A box or an edge as placed by the layout.
#[derive(Debug)]
enum Shape {
    /// `None`: the job's root.
    Node {
        step: Option<usize>,
        at: Point,
        size: Point,
    },
    Edge {
        /// `None` for the root's edge to a step.
        from: Option<usize>,
        to: usize,
        path: Vec<(Point, Point)>,
    },
}

/// The backend that keeps what the layout drew, by token: `job`, `s<index>`, `e<from>-<to>`
/// or `j<to>`.
#[derive(Debug, Default)]
struct Collect {
    shapes: Vec<Shape>,
}

fn parse_step(token: &str) -> Option<usize> {
    token.parse().ok()
}

impl RenderBackend for Collect {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        let Some(token) = properties else { return };
        let step = match token.as_str() {
            "job" => None,
            token => match token.strip_prefix('s').and_then(parse_step) {
                Some(index) => Some(index),
                None => return,
            },
        };
        self.shapes.push(Shape::Node { step, at: xy, size });
    }

    fn draw_line(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_circle(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_text(&mut self, _: Point, _: &str, _: &StyleAttr) {}

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _dashed: bool,
        _head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        let Some(token) = properties else { return };
        let (from, to) = if let Some(to) = token.strip_prefix('j') {
            (None, parse_step(to))
        } else if let Some((from, to)) = token.strip_prefix('e').and_then(|t| t.split_once('-')) {
            match parse_step(from) {
                Some(from) => (Some(from), parse_step(to)),
                None => return,
            }
        } else {
            return;
        };
        if let Some(to) = to {
            self.shapes.push(Shape::Edge {
                from,
                to,
                path: path.to_vec(),
            });
        }
    }

    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }
}

/// The two lines of a step's box.
fn box_lines(snapshot: &JobSnapshot, index: usize) -> (String, String) {
    match snapshot.steps.get(index) {
        Some(step) => {
            let mut status = step.state.as_str().to_owned();
            if let Some(running) = step.running {
                let _ = write!(status, " · {}", format_duration(running));
            }
            if !step.backoff.is_zero() {
                let _ = write!(status, " (+{} back-off)", format_duration(step.backoff));
            }
            if !step.items.is_empty() {
                let _ = write!(status, " · {} items", format_count(step.items.len()));
            }
            (shorten(&step.name, LABEL_CHARS), status)
        }
        None => (String::new(), String::new()),
    }
}

fn box_size(lines: &(String, String)) -> Point {
    let chars = lines.0.chars().count().max(lines.1.chars().count()).max(4);
    Point::new(chars as f64 * CHAR_WIDTH + 24.0, BOX_HEIGHT)
}

/// Lays the graph out: the shapes, or `None` if the layout failed (it panicked: `layout-rs`
/// checks its own invariants with assertions).
fn lay_out(snapshot: &JobSnapshot) -> Option<Vec<Shape>> {
    let steps = snapshot.steps.len();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let orientation = Orientation::TopToBottom;
        let look = StyleAttr::simple();
        let mut graph = VisualGraph::new(orientation);
        let job_label = (shorten(&snapshot.name, LABEL_CHARS), String::new());
        let job = graph.add_node(Element::create_with_properties(
            ShapeKind::new_box(""),
            look.clone(),
            orientation,
            box_size(&job_label),
            "job",
        ));
        let nodes: Vec<_> = (0..steps)
            .map(|index| {
                let size = box_size(&box_lines(snapshot, index));
                graph.add_node(Element::create_with_properties(
                    ShapeKind::new_box(""),
                    look.clone(),
                    orientation,
                    size,
                    format!("s{index}"),
                ))
            })
            .collect();
        for (index, step) in snapshot.steps.iter().enumerate() {
            let parents: Vec<usize> = step
                .data_dependencies
                .iter()
                .chain(&step.ordering_dependencies)
                .copied()
                .filter(|&parent| parent < steps && parent != index)
                .collect();
            let (Some(&to), true) = (nodes.get(index), parents.is_empty()) else {
                for parent in parents {
                    if let (Some(&from), Some(&to)) = (nodes.get(parent), nodes.get(index)) {
                        let arrow = Arrow::with_properties(
                            LineEndKind::None,
                            LineEndKind::Arrow,
                            LineStyleKind::Normal,
                            "",
                            &look,
                            format!("e{parent}-{index}"),
                            &None,
                            &None,
                        );
                        graph.add_edge(arrow, from, to);
                    }
                }
                continue;
            };
            let arrow = Arrow::simple_with_properties("", format!("j{index}"));
            graph.add_edge(arrow, job, to);
        }
        let mut collect = Collect::default();
        graph.do_it(false, false, false, &mut collect);
        collect.shapes
    }));
    result.ok()
}

/// The graph of `snapshot` as an `<svg>` element, coloured by state, the steps and edges of
/// `path` marked; `None` if it has more than `max_steps` steps, or could not be laid out.
pub(crate) fn svg(snapshot: &JobSnapshot, path: &CriticalPath, max_steps: usize) -> Option<String> {
    if snapshot.steps.len() > max_steps {
        return None;
    }
    let shapes = lay_out(snapshot)?;

    // The bounding box of everything drawn.
    let (mut min, mut max) = (
        Point::new(f64::MAX, f64::MAX),
        Point::new(f64::MIN, f64::MIN),
    );
    let mut grow = |p: Point| {
        min = Point::new(min.x.min(p.x), min.y.min(p.y));
        max = Point::new(max.x.max(p.x), max.y.max(p.y));
    };
    for shape in &shapes {
        match shape {
            Shape::Node { at, size, .. } => {
                grow(*at);
                grow(Point::new(at.x + size.x, at.y + size.y));
            }
            Shape::Edge { path, .. } => path.iter().for_each(|&(a, b)| {
                grow(a);
                grow(b);
            }),
        }
    }
    if min.x > max.x {
        return None;
    }
    let (width, height) = (max.x - min.x + 2.0 * MARGIN, max.y - min.y + 2.0 * MARGIN);
    let origin = Point::new(min.x - MARGIN, min.y - MARGIN);

    let mut out = String::with_capacity(2048 + shapes.len() * 512);
    out.push_str("<svg class=\"graph\" role=\"img\" aria-label=\"graph\" viewBox=\"");
    for (i, value) in [origin.x, origin.y, width, height].into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        num(&mut out, value);
    }
    out.push_str("\" width=\"");
    num(&mut out, width);
    out.push_str("\" height=\"");
    num(&mut out, height);
    out.push_str("\">\n<defs>");
    for (id, class) in [
        ("head", "head"),
        ("head-open", "head open"),
        ("head-crit", "head crit"),
    ] {
        let _ = write!(
            out,
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" \
             markerUnits=\"userSpaceOnUse\" markerWidth=\"11\" markerHeight=\"11\" \
             orient=\"auto-start-reverse\"><path class=\"{class}\" \
             d=\"M 0 0 L 10 5 L 0 10 z\"/></marker>"
        );
    }
    out.push_str("</defs>\n");

    let critical_edge = |from: Option<usize>, to: usize| match from {
        Some(from) => path.links().any(|(p, c, _)| p == from && c == to),
        None => path.steps.first().is_some_and(|first| first.index == to),
    };
    // Edges first, under the boxes.
    for shape in &shapes {
        let Shape::Edge {
            from,
            to,
            path: points,
        } = shape
        else {
            continue;
        };
        let ordering = from.is_some_and(|from| {
            let step = snapshot.steps.get(*to);
            step.is_some_and(|step| {
                step.ordering_dependencies.contains(&from)
                    && !step.data_dependencies.contains(&from)
            })
        });
        let crit = critical_edge(*from, *to);
        let kind = match (from, ordering) {
            (None, _) => "root",
            (Some(_), true) => "order",
            (Some(_), false) => "data",
        };
        let head = match (crit, ordering) {
            (true, _) => "head-crit",
            (false, true) => "head-open",
            (false, false) => "head",
        };
        let _ = write!(
            out,
            "<path class=\"edge {kind}{}\" marker-end=\"url(#{head})\" d=\"",
            if crit { " crit" } else { "" }
        );
        edge_path(&mut out, points);
        out.push_str("\"><title>");
        let name = |index: usize| snapshot.steps.get(index).map_or("?", |s| &*s.name);
        match from {
            Some(from) => escape_into(&mut out, name(*from)),
            None => escape_into(&mut out, &snapshot.name),
        }
        out.push_str(" → ");
        escape_into(&mut out, name(*to));
        out.push_str(match kind {
            "order" => " (ordering)",
            "data" => " (data)",
            _ => "",
        });
        if crit {
            out.push_str(", on the critical path");
        }
        out.push_str("</title></path>\n");
    }

    for shape in &shapes {
        let Shape::Node { step, at, size } = shape else {
            continue;
        };
        let (lines, state, class) = match step {
            None => {
                let state = if snapshot.finished {
                    if snapshot.error.is_some() {
                        StepState::Failed
                    } else {
                        StepState::Succeeded
                    }
                } else {
                    StepState::Running
                };
                (
                    (shorten(&snapshot.name, LABEL_CHARS), String::from("job")),
                    state,
                    "node job",
                )
            }
            Some(index) => {
                let state = snapshot
                    .steps
                    .get(*index)
                    .map_or(StepState::Waiting, |s| s.state);
                let class = if path.contains(*index) {
                    "node crit"
                } else {
                    "node"
                };
                (box_lines(snapshot, *index), state, class)
            }
        };
        match step {
            Some(index) => {
                let _ = write!(
                    out,
                    "<a href=\"#step-{index}\"><g class=\"{class}\" data-step=\"{index}\">"
                );
            }
            None => {
                let _ = write!(out, "<g class=\"{class}\">");
            }
        }
        out.push_str("<title>");
        match step.and_then(|index| snapshot.steps.get(index)) {
            Some(step) => {
                escape_into(&mut out, &step.name);
                let _ = write!(out, "\nstate: {}", step.state.as_str());
                if path.contains(step.index) {
                    out.push_str("\non the critical path");
                }
            }
            None => escape_into(&mut out, &snapshot.name),
        }
        out.push_str("</title><rect x=\"");
        num(&mut out, at.x);
        out.push_str("\" y=\"");
        num(&mut out, at.y);
        out.push_str("\" width=\"");
        num(&mut out, size.x);
        out.push_str("\" height=\"");
        num(&mut out, size.y);
        let _ = write!(
            out,
            "\" rx=\"6\" fill=\"{}\" stroke=\"{}\"/>",
            fill_color(state),
            line_color(state)
        );
        let centre = at.x + size.x / 2.0;
        for (line, dy, class) in [(&lines.0, 0.42, "name"), (&lines.1, 0.78, "status")] {
            out.push_str("<text class=\"");
            out.push_str(class);
            out.push_str("\" x=\"");
            num(&mut out, centre);
            out.push_str("\" y=\"");
            num(&mut out, at.y + size.y * dy);
            out.push_str("\">");
            escape_into(&mut out, line);
            out.push_str("</text>");
        }
        out.push_str(if step.is_some() {
            "</g></a>\n"
        } else {
            "</g>\n"
        });
    }
    out.push_str("</svg>");
    Some(out)
}

/// The SVG path data of a layout-rs edge: the first pair is the start and its control point,
/// each later pair a control point and the point it leads into.
fn edge_path(out: &mut String, points: &[(Point, Point)]) {
    let push = |p: Point, out: &mut String| {
        num(out, p.x);
        out.push(' ');
        num(out, p.y);
    };
    let Some(&(start, control)) = points.first() else {
        return;
    };
    out.push_str("M ");
    push(start, out);
    for (i, &(c, p)) in points.iter().skip(1).enumerate() {
        if i == 0 {
            out.push_str(" C ");
            push(control, out);
            out.push_str(", ");
        } else {
            out.push_str(" S ");
        }
        push(c, out);
        out.push_str(", ");
        push(p, out);
    }
}
