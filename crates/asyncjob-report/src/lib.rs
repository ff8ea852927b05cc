//! A report page of an [`asyncjob`] instance: one self-contained HTML file with the graph of
//! the job (laid out in-process, no Graphviz), the timeline of every step (waiting, queued,
//! each attempt running, each back-off), the table of the steps with their errors, and the
//! [critical path](asyncjob::visual::critical_path) marked in all of them.
//!
//! A [map step](asyncjob::StepBuilder::map)'s items are on the page too, within the core's
//! limit ([`MAX_ITEM_ROWS`](asyncjob::visual::MAX_ITEM_ROWS)): the timeline has a row per item
//! under the map's, up to the limit, then one row for the others; the step table lists the same
//! items, collapsed under their counts by state, with each one's state, attempts, time and
//! error, then the counts of the others; the graph's box says how many items the map has.
//!
//! ```
//! use asyncjob::{FuturesExecutor, JobBuilder};
//! use asyncjob_report::ReportExt as _;
//!
//! let mut job = JobBuilder::<()>::new("nightly");
//! let fetch = job.step("fetch").run(|()| async { Ok::<_, String>(3) })?;
//! job.step("store").after(&fetch).run(|(), n| async move { Ok::<_, String>(n) })?;
//! let job = job.seal();
//!
//! let mut pool = futures::executor::LocalPool::new();
//! let instance = job.on(FuturesExecutor::new(pool.spawner())).start_local(());
//! pool.run_until(instance.wait()).unwrap();
//!
//! let page: String = instance.to_html(); // write it to report.html, open it anywhere
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! assert!(page.contains("<svg class=\"graph\"") && page.contains("<svg class=\"timeline\""));
//! # Ok::<_, asyncjob::DefinitionError>(())
//! ```
//!
//! # What the page is
//!
//! * **Self-contained.** Its style, its one small script and its pictures (inline SVG) are in
//!   the file; it loads no font, image, style or script, and its Content-Security-Policy
//!   (`default-src 'none'`) forbids the browser to fetch anything. It opens offline, from a
//!   file, an e-mail attachment or a CI artifact.
//! * **Safe with any text.** Step names, the job's name and id, and error messages are escaped
//!   wherever they appear (`&`, `<`, `>`, `"`, `'` as character references; control characters
//!   as U+FFFD), and none is written into the script or the style. The policy lets only the
//!   page's own script run (by its hash), so even markup that slipped through could not run
//!   code.
//! * **For any moment.** The page is drawn from one [`JobSnapshot`]: a running instance gives
//!   the page so far (and the critical path so far), a finished, failed or cancelled one its
//!   final page. The same snapshot always gives the same page.
//! * **Lean.** It depends on `asyncjob` (with its `critical-path` feature) and `layout-rs`,
//!   which has no dependencies. The graph is laid out for jobs of up to 100 steps by default
//!   ([`Report::max_graph_steps`]); larger ones get the timeline and the table without it
//!   (the layout's cost grows faster than the number of steps).
//!
//! # In a browser
//!
//! The script marks the page for tools: `data-report-loaded="true"` on the root element once it
//! has run, and `data-report-errors` the number of script errors and unhandled rejections seen
//! (their messages in `data-report-error-log`). Hovering a step highlights it in the graph, the
//! timeline and the table; a box or a row links to the step's line in the table; a checkbox
//! shows the critical path alone. Without the script the page is complete, only static.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use asyncjob::{JobInstance, JobSnapshot, Mode};

mod graph;
mod html;
mod page;
mod timeline;

/// The page's options, over one snapshot: see the [crate documentation](crate).
///
/// ```
/// # use asyncjob::{FuturesExecutor, JobBuilder};
/// use asyncjob_report::Report;
/// # let mut job = JobBuilder::<()>::new("many");
/// # for i in 0..3 { job.step(format!("s{i}")).run(|()| async { Ok::<_, String>(()) })?; }
/// # let mut pool = futures::executor::LocalPool::new();
/// # let instance = job.seal().on(FuturesExecutor::new(pool.spawner())).start_local(());
/// # pool.run_until(instance.wait()).unwrap();
/// let page = Report::new(&instance.snapshot()).max_graph_steps(2).to_html();
/// assert!(page.contains("Not drawn: 3 steps"));
/// # Ok::<_, asyncjob::DefinitionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Report<'a> {
    snapshot: &'a JobSnapshot,
    max_graph_steps: usize,
}

impl<'a> Report<'a> {
    /// How many steps the page lays out as a graph by default.
    pub const MAX_GRAPH_STEPS: usize = 100;

    /// The page of `snapshot`, with the default options.
    pub fn new(snapshot: &'a JobSnapshot) -> Self {
        Report {
            snapshot,
            max_graph_steps: Self::MAX_GRAPH_STEPS,
        }
    }

    /// Draws the graph only for jobs of at most `steps` steps ([`MAX_GRAPH_STEPS`](Self::MAX_GRAPH_STEPS)
    /// by default); a larger job's page says why it has no graph. Laying out a graph of a few
    /// hundred steps takes seconds.
    pub fn max_graph_steps(mut self, steps: usize) -> Self {
        self.max_graph_steps = steps;
        self
    }

    /// The page, as one HTML document.
    pub fn to_html(&self) -> String {
        page::render(self.snapshot, self.max_graph_steps)
    }
}

/// `to_html()` on instances and snapshots: `use asyncjob_report::ReportExt as _;`.
pub trait ReportExt {
    /// The report page, with the default options ([`Report`] has the others): one
    /// self-contained HTML document, drawn from one snapshot.
    fn to_html(&self) -> String;
}

impl ReportExt for JobSnapshot {
    fn to_html(&self) -> String {
        Report::new(self).to_html()
    }
}

/// Also for a [`JobInstanceWithResult`](asyncjob::JobInstanceWithResult), through its
/// `Deref` to the instance.
impl<X: Mode> ReportExt for JobInstance<X> {
    fn to_html(&self) -> String {
        self.snapshot().to_html()
    }
}
