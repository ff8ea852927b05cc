//! The page: complete for an instance in every state (running, succeeded, failed, cancelled, no
//! steps), self-contained, deterministic, and safe with hostile step names and error messages —
//! every tag and attribute in it is one the page writes itself.

use std::collections::BTreeSet;
use std::time::Duration;

use asyncjob::retry::Retry;
use asyncjob::{FuturesExecutor, JobBuilder, JobDefinition, JobInstance, Local, StepState};
use asyncjob_report::{Report, ReportExt as _};
use asyncjob_test::{RecordingTimer, Watchdog};
use futures::executor::LocalPool;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The tags the page writes.
const TAGS: [&str; 39] = [
    "!DOCTYPE", "html", "head", "meta", "title", "style", "script", "body", "header", "h1", "h2",
    "p", "span", "section", "div", "table", "thead", "tbody", "tr", "th", "td", "a", "svg", "defs",
    "marker", "path", "g", "rect", "text", "line", "details", "summary", "ol", "li", "label",
    "input", "footer", "b", "i",
];

/// The attributes the page writes.
const ATTRIBUTES: [&str; 37] = [
    "lang",
    "charset",
    "http-equiv",
    "content",
    "name",
    "class",
    "id",
    "href",
    "data-step",
    "viewBox",
    "width",
    "height",
    "role",
    "aria-label",
    "x",
    "y",
    "x1",
    "x2",
    "y1",
    "y2",
    "rx",
    "fill",
    "stroke",
    "d",
    "marker-end",
    "refX",
    "refY",
    "markerUnits",
    "markerWidth",
    "markerHeight",
    "orient",
    "value",
    "type",
    "style",
    "title",
    "html",
    "code",
];

/// A tag's name and its attributes, as `(name, value)`.
type Tag = (String, Vec<(String, String)>);

/// Every tag of `page` (outside the script and the style, whose texts are the page's own) with
/// its attributes; panics on markup it cannot read.
fn tags(page: &str) -> Vec<Tag> {
    let mut found = Vec::new();
    let mut rest = page;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        if let Some(after) = rest.strip_prefix('/') {
            let end = after.find('>').expect("a closed end tag");
            let name = &after[..end];
            assert!(TAGS.contains(&name) || name == "code", "end tag {name:?}");
            rest = &after[end + 1..];
            continue;
        }
        let end = rest.find('>').expect("a closed tag");
        let tag = &rest[..end];
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        let mut attributes = Vec::new();
        let mut body = &tag[name.len()..];
        loop {
            body = body.trim_start().trim_start_matches('/').trim_start();
            if body.is_empty() {
                break;
            }
            let key_end = body
                .find(|c: char| c == '=' || c.is_whitespace())
                .unwrap_or(body.len());
            let key = body[..key_end].to_owned();
            body = &body[key_end..];
            let mut value = String::new();
            if let Some(quoted) = body.strip_prefix("=\"") {
                let close = quoted.find('"').expect("a closed attribute value");
                value = quoted[..close].to_owned();
                body = &quoted[close + 1..];
            }
            attributes.push((key, value));
        }
        rest = &rest[end + 1..];
        // The script and the style are the page's own text; skip to their end.
        for raw in ["script", "style"] {
            if name == raw {
                let close = format!("</{raw}>");
                let at = rest.find(&close).expect("a closed raw-text element");
                rest = &rest[at + close.len()..];
            }
        }
        found.push((name, attributes));
    }
    found
}

/// Checks that `page` is made of the page's own tags and attributes only.
fn assert_only_own_markup(page: &str) {
    for (name, attributes) in tags(page) {
        assert!(
            TAGS.contains(&name.as_str()) || name == "code",
            "a tag the page does not write: <{name}>"
        );
        for (attribute, value) in attributes {
            assert!(
                ATTRIBUTES.contains(&attribute.as_str()),
                "<{name}> has an attribute the page does not write: {attribute:?}"
            );
            if attribute == "href" {
                assert!(value.starts_with('#'), "a link out of the page: {value:?}");
            }
            if attribute != "content" {
                assert!(!value.contains("://"), "<{name} {attribute}={value:?}>");
            }
        }
    }
    assert_eq!(page.matches("<script").count(), 1, "one script");
}

/// What makes a page self-contained: nothing to fetch (no `src`, and only links within the
/// page, are checked with the markup).
fn assert_self_contained(page: &str) {
    for needle in ["@import", "://"] {
        let style = page
            .split("<style>")
            .nth(1)
            .and_then(|s| s.split("</style>").next());
        assert!(
            !style.expect("a style").contains(needle),
            "the style has {needle:?}"
        );
    }
    for (at, _) in page.match_indices("url(") {
        assert!(
            page[at..].starts_with("url(#"),
            "only fragment URLs: {}",
            &page[at..at + 20]
        );
    }
    assert!(page.contains("default-src 'none'"));
}

/// The basics of every page: one document, the job's name, every step's (escaped) name in the
/// graph (when drawn), the timeline and the table.
fn assert_complete(page: &str, names: &[&str], state: &str) {
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(page.ends_with("</html>\n"));
    assert!(page.contains("<span class=\"badge st-"), "{page}");
    assert!(
        page.contains(&format!(">{state}</span>")),
        "the job is {state}"
    );
    for (index, name) in names.iter().enumerate() {
        let escaped = escape(name);
        assert!(page.contains(&escaped), "{name:?} is on the page");
        assert!(
            page.contains(&format!("id=\"step-{index}\"")),
            "a table row for {name:?}"
        );
        let marked = page.matches(&format!("data-step=\"{index}\"")).count();
        assert!(marked >= 2, "{name:?}: {marked} elements of the step");
    }
    assert_only_own_markup(page);
    assert_self_contained(page);
}

fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' => out.push('\n'),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const NAMES: [&str; 6] = ["runs", "waits", "retries", "done", "fails", "skipped"];

/// A job whose steps, on a held timer, stop in every state but queued: `runs` sleeps an hour,
/// `waits` follows it, `retries` fails and backs off for a minute, `done` succeeds, `fails`
/// fails, and `skipped` follows `fails`.
fn every_state_job() -> JobDefinition<RecordingTimer> {
    let mut job = JobBuilder::<RecordingTimer>::new("states");
    let runs = job
        .step(NAMES[0])
        .run(|timer: RecordingTimer| async move {
            asyncjob::Timer::sleep(&timer, Duration::from_secs(3600)).await;
            Ok::<_, Error>(1)
        })
        .expect("a step");
    job.step(NAMES[1])
        .after(&runs)
        .run(|_, n: u32| async move { Ok::<_, Error>(n) })
        .expect("a step");
    job.step(NAMES[2])
        .retry(Retry::fixed(2, Duration::from_secs(60)))
        .run(|_| async { Err::<(), Error>("not yet".into()) })
        .expect("a step");
    job.step(NAMES[3])
        .run(|_| async { Ok::<_, Error>(()) })
        .expect("a step");
    let fails = job
        .step(NAMES[4])
        .run(|_| async { Err::<u32, Error>("disk <full> & \"gone\"".into()) })
        .expect("a step");
    job.step(NAMES[5])
        .after(&fails)
        .run(|_, n: u32| async move { Ok::<_, Error>(n) })
        .expect("a step");
    job.seal()
}

fn start(
    pool: &mut LocalPool,
    job: &JobDefinition<RecordingTimer>,
    timer: &RecordingTimer,
) -> JobInstance<Local> {
    let instance = job
        .on(FuturesExecutor::new(pool.spawner()))
        .timer(timer.clone())
        .start_local(timer.clone());
    pool.run_until_stalled();
    instance
}

#[test]
fn a_running_instance_has_its_page_so_far() {
    let _watchdog = Watchdog::new(
        "a_running_instance_has_its_page_so_far",
        Duration::from_secs(60),
    );
    let timer = RecordingTimer::held().with_fake_clock();
    let mut pool = LocalPool::new();
    let instance = start(&mut pool, &every_state_job(), &timer);
    timer.advance(Duration::from_millis(30));
    let snapshot = instance.snapshot();
    let states: BTreeSet<_> = snapshot.steps.iter().map(|s| s.state).collect();
    for state in [
        StepState::Waiting,
        StepState::Running,
        StepState::Retrying,
        StepState::Succeeded,
        StepState::Failed,
        StepState::Skipped,
    ] {
        assert!(states.contains(&state), "{state} in {states:?}");
    }
    let page = snapshot.to_html();
    assert_complete(&page, &NAMES, "running");
    assert!(page.contains("so far"));
    assert!(
        page.contains("disk &lt;full&gt; &amp; &quot;gone&quot;"),
        "the error, escaped"
    );
    assert!(page.contains("1 retried attempt</summary>"));
    assert!(
        page.contains("class=\"bar backoff st-retrying\""),
        "the back-off is drawn"
    );
    assert!(page.contains("taken while the job ran"));
    // One snapshot, one page.
    assert_eq!(page, snapshot.to_html());

    // Cancelled.
    assert!(instance.cancel());
    pool.run_until(instance.wait())
        .expect_err("failed and cancelled");
    let page = instance.to_html();
    // A step failed: the job failed, whatever was cancelled after.
    assert_complete(&page, &NAMES, "failed");
    assert!(page.contains(">cancelled</span>"), "the cancelled steps");
}

#[test]
fn finished_failed_and_cancelled_instances_have_their_pages() {
    let _watchdog = Watchdog::new("finished_failed_and_cancelled", Duration::from_secs(60));
    // Failed: every step ends (the timer releases the hour and the minute).
    let timer = RecordingTimer::new().with_fake_clock();
    let mut pool = LocalPool::new();
    let instance = start(&mut pool, &every_state_job(), &timer);
    pool.run_until(instance.wait()).expect_err("fails");
    let page = instance.to_html();
    assert_complete(&page, &NAMES, "failed");
    assert!(
        page.contains("<p class=\"error\">"),
        "the job's error in the header"
    );
    assert!(!page.contains("so far"));

    // Cancelled before anything ended.
    let timer = RecordingTimer::held().with_fake_clock();
    let mut job = JobBuilder::<RecordingTimer>::new("cut short");
    let sleep = job
        .step("sleeps")
        .run(|timer: RecordingTimer| async move {
            asyncjob::Timer::sleep(&timer, Duration::from_secs(1)).await;
            Ok::<_, Error>(())
        })
        .expect("a step");
    job.step("after")
        .wait_for(&sleep)
        .run(|_| async { Ok::<_, Error>(()) })
        .expect("a step");
    let instance = start(&mut pool, &job.seal(), &timer);
    timer.advance(Duration::from_millis(5));
    assert!(instance.cancel());
    pool.run_until(instance.wait()).expect_err("cancelled");
    let page = instance.to_html();
    assert_complete(&page, &["sleeps", "after"], "cancelled");
    assert!(page.contains("1 step, 5.000ms"), "the path is the cut step");

    // Succeeded, through a `JobInstanceWithResult`.
    let mut job = JobBuilder::<()>::new("fine");
    let a = job
        .step("a")
        .run(|()| async { Ok::<_, Error>(2) })
        .expect("a step");
    let b = job
        .step("b")
        .after(&a)
        .run(|(), n: u32| async move { Ok::<_, Error>(n) })
        .expect("a step");
    let job = job.seal().with_result(&b).expect("a result");
    let instance = job.on(FuturesExecutor::new(pool.spawner())).start_local(());
    assert_eq!(pool.run_until(instance.result()).expect("succeeds"), 2);
    pool.run_until(instance.wait()).expect("succeeds");
    let page = instance.to_html();
    assert_complete(&page, &["a", "b"], "succeeded");
    assert!(page.contains("<svg class=\"graph\""));
}

#[test]
fn a_job_without_steps_and_a_job_too_large_to_lay_out() {
    let _watchdog = Watchdog::new("without_steps_and_too_large", Duration::from_secs(120));
    let mut pool = LocalPool::new();
    let instance = JobBuilder::<()>::new("empty")
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .start_local(());
    pool.run_until(instance.wait()).expect("nothing to fail");
    let page = instance.to_html();
    assert_complete(&page, &[], "succeeded");
    assert!(page.contains("Empty: no step became ready (the job has no steps)."));

    let mut job = JobBuilder::<()>::new("wide");
    for i in 0..150 {
        job.step(format!("step {i}"))
            .run(|()| async { Ok::<_, Error>(()) })
            .expect("a step");
    }
    let instance = job
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .start_local(());
    pool.run_until(instance.wait()).expect("succeeds");
    let snapshot = instance.snapshot();
    let page = snapshot.to_html();
    assert!(page.contains("Not drawn: 150 steps, more than the 100"));
    assert!(!page.contains("<svg class=\"graph\""));
    assert_eq!(page.matches("<tr id=\"step-").count(), 150);
    let drawn = Report::new(&snapshot).max_graph_steps(150).to_html();
    assert!(drawn.contains("<svg class=\"graph\""));
    // A link per box of the graph, per row of the timeline, and for the one step of the path.
    assert_eq!(drawn.matches("<a href=\"#step-").count(), 2 * 150 + 1);
}

/// Names and errors that try to end an element, an attribute, a comment or the script, to open
/// a tag, or to smuggle control characters.
fn hostile() -> Vec<String> {
    [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "' onmouseover='alert(1)",
        "</title><b id=\"pwned\">x</b>",
        "</script><script>alert(2)</script>",
        "</style><style>*{display:none}</style>",
        "<!-- comment --> ]]> <![CDATA[",
        "a & b &amp; &#60; &lt;",
        "line\nbreak\r\nand\ttab",
        "nul\u{0}esc\u{1b}bell\u{7}del\u{7f}",
        "javascript:alert(1)",
        "<svg onload=alert(1)>",
        "ünïcødé 🦀 \u{202e}rtl",
        &"long".repeat(100),
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[test]
fn hostile_names_and_errors_stay_text() {
    let _watchdog = Watchdog::new(
        "hostile_names_and_errors_stay_text",
        Duration::from_secs(60),
    );
    let names = hostile();
    let mut job = JobBuilder::<()>::new("<b>job</b> \"&\" 'name'");
    let mut previous = None;
    for (i, name) in names.iter().enumerate() {
        let message = format!("{name} failed: </td></tr></table><script>alert({i})</script>");
        let step = job.step(name.clone());
        let step = match &previous {
            Some(parent) if i % 3 != 0 => step.wait_for(parent),
            _ => step,
        };
        let fail = i % 4 == 3;
        let handle = step
            .run(move |()| {
                let message = message.clone();
                async move {
                    if fail {
                        return Err::<(), Error>(message.into());
                    }
                    Ok(())
                }
            })
            .expect("any name is a name");
        previous = Some(handle);
    }
    let mut pool = LocalPool::new();
    let instance = job
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .options(asyncjob::JobOptions::new().with_id("<i>id</i>"))
        .start_local(());
    let _ = pool.run_until(instance.wait());
    let page = instance.to_html();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_complete(&page, &[], "failed");
    for name in &names {
        // Every name appears escaped (in the table, unshortened), never raw if it has markup.
        assert!(page.contains(&escape(name)), "{name:?}");
        if name.contains(['<', '>', '"', '\'']) {
            assert!(!page.contains(name), "{name:?} appears raw");
        }
    }
    assert!(page.contains("&lt;b&gt;job&lt;/b&gt; &quot;&amp;&quot; &#39;name&#39;"));
    assert!(page.contains("&lt;i&gt;id&lt;/i&gt;"));
    assert!(!page.contains('\u{0}') && !page.contains('\u{1b}') && !page.contains('\u{7}'));
    assert!(page.contains("&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;alert(3)"));
}

/// A small xorshift, for random graphs that are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n.max(1) as u64).expect("small")
    }
}

#[test]
fn random_graphs_are_laid_out_whole() {
    let _watchdog = Watchdog::new("random_graphs_are_laid_out_whole", Duration::from_secs(300));
    let mut random = XorShift(0x5eed_1234_abcd_0001);
    let mut pool = LocalPool::new();
    for case in 0..60 {
        let steps = 1 + random.below(24);
        let mut job = JobBuilder::<()>::new(format!("random {case}"));
        let mut handles: Vec<asyncjob::StepHandle<u32>> = Vec::new();
        for i in 0..steps {
            let parents: Vec<_> = match i {
                0 => Vec::new(),
                _ => {
                    let mut picked: Vec<usize> =
                        (0..random.below(4)).map(|_| random.below(i)).collect();
                    picked.sort_unstable();
                    picked.dedup();
                    picked
                        .into_iter()
                        .map(|p: usize| handles[p].clone())
                        .collect::<Vec<_>>()
                }
            };
            let step = job.step(format!("s{i} {}", "x".repeat(random.below(30))));
            let handle = match (parents.is_empty(), random.below(2)) {
                (true, _) => step.run(|()| async { Ok::<_, Error>(1u32) }),
                (false, 0) => step
                    .after(&parents)
                    .run(|(), v: Vec<u32>| async move { Ok::<_, Error>(v.len() as u32) }),
                (false, _) => step
                    .wait_for(&parents)
                    .run(|()| async { Ok::<_, Error>(1u32) }),
            };
            handles.push(handle.expect("a step"));
        }
        let instance = job
            .seal()
            .on(FuturesExecutor::new(pool.spawner()))
            .start_local(());
        pool.run_until(instance.wait()).expect("succeeds");
        let page = instance.to_html();
        let graph = page.split("<svg class=\"graph\"").nth(1).expect("a graph");
        let graph = graph.split("</svg>").next().expect("its end");
        for i in 0..steps {
            assert!(
                graph.contains(&format!("data-step=\"{i}\"")),
                "case {case}: step {i} drawn"
            );
        }
        let edges: usize = instance
            .steps()
            .iter()
            .map(|s| (s.data_dependencies.len() + s.ordering_dependencies.len()).max(1))
            .sum();
        assert_eq!(
            graph.matches("<path class=\"edge").count(),
            edges,
            "case {case}: every edge"
        );
        assert_only_own_markup(&page);
    }
}

/// `list` lists `n` keys (`f0` …, and `<b>&"bad"` at 1); `hash` maps over them, failing the
/// items whose key has a `"`; `total` takes the hashes.
fn map_page(n: usize) -> (asyncjob::JobSnapshot, String) {
    let mut job = JobBuilder::<usize>::new("maps");
    let keys = job
        .step("list")
        .run(|n| async move {
            let key = |i| match i {
                1 => "<b>&\"bad\"".to_owned(),
                i => format!("f{i}"),
            };
            Ok::<_, Error>((0..n).map(key).collect::<Vec<String>>())
        })
        .expect("a step");
    let hashes = job
        .step("hash")
        .map(&keys)
        .key(|key: &String| key.clone())
        .run(|_, key: String| async move {
            match key.contains('"') {
                true => Err(Error::from(format!("cannot hash {key}"))),
                false => Ok(key.len()),
            }
        })
        .expect("a step");
    job.step("total")
        .after(&hashes)
        .run(|_, lens: Vec<usize>| async move { Ok::<_, Error>(lens.len()) })
        .expect("a step");
    let mut pool = LocalPool::new();
    let instance = job
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .start_local(n);
    pool.run_until(instance.wait()).expect_err("an item fails");
    let snapshot = instance.snapshot();
    let page = snapshot.to_html();
    assert_complete(&page, &["list", "hash", "total"], "failed");
    (snapshot, page)
}

#[test]
fn a_small_map_shows_every_item_in_the_table_and_the_timeline() {
    let (snapshot, page) = map_page(3);
    let items = &snapshot.steps[1].items;
    assert_eq!(items.len(), 3);
    // The table: the counts, then each item with its state, and the failed one's error.
    assert!(
        page.contains("<details class=\"items\"><summary>3 items: 2 succeeded, 1 failed</summary>")
    );
    assert_eq!(page.matches("<li value=\"").count(), 3);
    for item in items {
        let name = escape(&item.name);
        assert!(
            page.contains(&format!(
                "<li value=\"{}\">{name} <span class=\"badge st-{}\">",
                item.position,
                item.state.as_str()
            )),
            "{name}"
        );
        // The timeline: a row under the map's, with its label and a bar with the name.
        assert!(page.contains(&format!(
            "<title>{name} ({})</title>↳ {name}</text>",
            item.state.as_str()
        )));
        assert!(page.contains(&format!("<title>{name}: {}, ", item.state.as_str())));
    }
    assert!(page.contains(&escape("cannot hash <b>&\"bad\"")));
    assert_eq!(
        page.matches("<g class=\"row item\" data-step=\"1\">")
            .count(),
        3
    );
    assert!(!page.contains("more items"));
    // The graph's box says how many.
    assert!(page.contains("· 3 items"));
}

#[test]
fn a_large_map_shows_its_first_items_and_counts_the_others() {
    let (snapshot, page) = map_page(1_234);
    assert_eq!(snapshot.steps[1].items.len(), 1_234);
    let rows = asyncjob::visual::MAX_ITEM_ROWS;
    assert!(page.contains(
        "<details class=\"items\"><summary>1,234 items: 1,233 succeeded, 1 failed</summary>"
    ));
    assert_eq!(page.matches("<li value=\"").count(), rows);
    assert!(page.contains(&format!("<li value=\"{}\">hash[f{}]", rows - 1, rows - 1)));
    assert!(!page.contains(&format!("hash[f{rows}]")));
    assert!(page.contains("<p class=\"note\">… and the other 1,214 items: 1,214 succeeded</p>"));
    // The timeline: a row per item up to the limit, then one for the others, spanning them.
    assert_eq!(
        page.matches("<g class=\"row item\" data-step=\"1\">")
            .count(),
        rows + 1
    );
    assert!(page.contains(
        "<title>… and 1,214 more items (succeeded)</title>↳ … and 1,214 more items</text>"
    ));
    assert!(page.contains("<rect class=\"bar attempt items st-succeeded\""));
    assert!(page.contains("<title>hash: the other 1,214 items: 1,214 succeeded; from "));
    // The page grows with the rows it draws, not with the items.
    let (_, small) = map_page(rows + 1);
    assert!(
        page.len() < small.len() + 1_000,
        "{} vs {}",
        page.len(),
        small.len()
    );
    assert!(page.contains("· 1,234 items"));
}
