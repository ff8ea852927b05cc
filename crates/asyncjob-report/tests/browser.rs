//! The page in a real browser: headless Chromium loads the SQL example's report, and the test
//! checks, in the DOM Chromium dumps after running the page, that its script ran
//! (`data-report-loaded="true"`), that no script error or unhandled rejection happened
//! (`data-report-errors="0"`) and that every step's name is shown; it also takes a screenshot.
//! A page with hostile names runs no injected code; a map's page shows its first items and the
//! counts of the others; and the check itself fails on a page whose script the policy blocks or
//! that throws.
//!
//! The browser is `$ASYNCJOB_BROWSER`, or the first of `chromium`, `chromium-browser`,
//! `google-chrome`, `google-chrome-stable` on the `PATH`. Without one the tests say so and pass,
//! unless `ASYNCJOB_REQUIRE_BROWSER=1` (as `.ci/run` sets when it has one): then they fail.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asyncjob::{FuturesExecutor, JobBuilder};
use asyncjob_examples::sql::{SQL_SUMMARY, SqlLib};
use asyncjob_report::ReportExt as _;
use asyncjob_tokio::TokioExecutor;

/// How long one browser run may take before it is killed and the test fails.
const BROWSER_LIMIT: Duration = Duration::from_secs(90);

fn browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ASYNCJOB_BROWSER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The browser, or `None` (after saying why) if there is none and none is required.
fn browser_or_skip(test: &str) -> Option<PathBuf> {
    let found = browser();
    if found.is_none() {
        let required = std::env::var("ASYNCJOB_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{test}: ASYNCJOB_REQUIRE_BROWSER=1 but no browser was found (set ASYNCJOB_BROWSER \
             or put chromium on the PATH)"
        );
        eprintln!(
            "{test}: skipped: no chromium on the PATH and ASYNCJOB_BROWSER unset \
             (set ASYNCJOB_REQUIRE_BROWSER=1 to fail instead)"
        );
    }
    found
}

/// A fresh folder under the target's temporary folder.
fn folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("asyncjob-report")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// Runs headless `browser` on the file `page` with `args` (a profile of its own in `dir`):
/// its standard output, or why it failed. Killed after [`BROWSER_LIMIT`].
fn headless(browser: &Path, dir: &Path, page: &Path, args: &[&str]) -> Result<String, String> {
    let url = format!(
        "file://{}",
        page.canonicalize().map_err(|e| e.to_string())?.display()
    );
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--virtual-time-budget=3000")
        .args(args)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", browser.display()))?;
    let mut stdout = child.stdout.take().ok_or("no standard output")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > BROWSER_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not finish in {BROWSER_LIMIT:?}",
                browser.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = reader.join().map_err(|_| "the reader panicked")?;
    if !status.success() {
        return Err(format!("{} failed: {status}", browser.display()));
    }
    Ok(text)
}

/// What the page's HTML serialisation shows of a name in text.
fn in_dom(name: &str) -> String {
    name.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Checks the DOM Chromium dumped: the script ran, with no error, and every name is shown.
fn check(dom: &str, names: &[&str]) -> Result<(), String> {
    let root = dom
        .lines()
        .find(|line| line.starts_with("<html"))
        .ok_or("no <html> element")?;
    if !root.contains("data-report-loaded=\"true\"") {
        return Err(format!("the page's script did not run to its end: {root}"));
    }
    if !root.contains("data-report-errors=\"0\"") {
        return Err(format!("the page had script errors: {root}"));
    }
    for name in names {
        if !dom.contains(&in_dom(name)) {
            return Err(format!("the page does not show {name:?}"));
        }
    }
    Ok(())
}

/// Takes a screenshot of `page`, 1280 pixels wide and `height` high, into `dir`, and checks that
/// it is a real picture.
fn screenshot(test: &str, browser: &Path, dir: &Path, page: &Path, height: u32) {
    let screenshot = dir.join("report.png");
    let shot = format!("--screenshot={}", screenshot.display());
    let size = format!("--window-size=1280,{height}");
    headless(browser, dir, page, &[&shot, &size, "--hide-scrollbars"])
        .unwrap_or_else(|e| panic!("{e}"));
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a real picture"
    );
    eprintln!("{test}: screenshot at {}", screenshot.display());
}

fn sql_report() -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let executor = TokioExecutor::new();
        let lib = Arc::new(SqlLib::new(executor.clone(), Duration::from_millis(1)));
        let instance = SQL_SUMMARY.on(executor).start(lib);
        tokio::time::timeout(Duration::from_secs(60), instance.wait())
            .await
            .expect("the job ends")
            .expect("the job succeeds");
        instance.to_html()
    })
}

#[test]
fn the_sql_report_loads_without_errors_and_shows_every_step() {
    let test = "the_sql_report_loads_without_errors_and_shows_every_step";
    let Some(browser) = browser_or_skip(test) else {
        return;
    };
    let dir = folder("sql");
    let page = dir.join("report.html");
    std::fs::write(&page, sql_report()).expect("the page is written");

    let dom = headless(&browser, &dir, &page, &["--dump-dom"]).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = SQL_SUMMARY.steps().map(|step| step.name()).collect();
    assert_eq!(names.len(), 8);
    check(&dom, &names).unwrap_or_else(|e| panic!("{e}"));
    screenshot(test, &browser, &dir, &page, 2000);
}

#[test]
fn a_hostile_report_runs_no_injected_code() {
    let test = "a_hostile_report_runs_no_injected_code";
    let Some(browser) = browser_or_skip(test) else {
        return;
    };
    let names = [
        "</title><b id=\"pwned\">x</b>",
        "<img src=x onerror=\"document.title='pwned'\">",
        "</script><script>document.title='pwned'</script>",
        "plain",
    ];
    let mut job = JobBuilder::<()>::new("<i id=\"pwned\">job</i>");
    let mut previous = None;
    for name in names {
        let step = job.step(name);
        let step = match &previous {
            Some(parent) => step.wait_for(parent),
            None => step,
        };
        previous = Some(
            step.run(move |()| async move { Err::<(), _>(format!("<b id=\"pwned\">{name}</b>")) })
                .expect("a step"),
        );
    }
    let mut pool = futures::executor::LocalPool::new();
    let instance = job
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .start_local(());
    let _ = pool.run_until(instance.wait());
    let dir = folder("hostile");
    let page = dir.join("report.html");
    std::fs::write(&page, instance.to_html()).expect("the page is written");

    let dom = headless(&browser, &dir, &page, &["--dump-dom"]).unwrap_or_else(|e| panic!("{e}"));
    check(&dom, &names).unwrap_or_else(|e| panic!("{e}"));
    for injected in ["<b id=\"pwned\"", "<i id=\"pwned\"", "<img"] {
        assert!(!dom.contains(injected), "an injected element: {injected}");
    }
    assert!(!dom.contains("<title>pwned"), "an injected script ran");
}

#[test]
fn a_map_report_loads_without_errors_and_shows_its_items() {
    let test = "a_map_report_loads_without_errors_and_shows_its_items";
    let Some(browser) = browser_or_skip(test) else {
        return;
    };
    let mut job = JobBuilder::<usize>::new("maps");
    let files = job
        .step("find")
        .run(|n| async move {
            Ok::<_, String>((0..n).map(|i| format!("src/<{i}>.rs")).collect::<Vec<_>>())
        })
        .expect("a step");
    let hashes = job
        .step("hash")
        .map(&files)
        .key(|file: &String| file.clone())
        .run(|_, file: String| async move {
            match file.as_str() {
                "src/<3>.rs" => Err(format!("cannot read {file}")),
                _ => Ok(file.len()),
            }
        })
        .expect("a step");
    job.step("total")
        .after(&hashes)
        .run(|_, lens: Vec<usize>| async move { Ok::<_, String>(lens.len()) })
        .expect("a step");
    let mut pool = futures::executor::LocalPool::new();
    let instance = job
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .start_local(500);
    let _ = pool.run_until(instance.wait());
    let dir = folder("maps");
    let page = dir.join("report.html");
    std::fs::write(&page, instance.to_html()).expect("the page is written");

    let dom = headless(&browser, &dir, &page, &["--dump-dom"]).unwrap_or_else(|e| panic!("{e}"));
    let rows = asyncjob::visual::MAX_ITEM_ROWS;
    let shown: Vec<String> = (0..rows).map(|i| format!("hash[src/<{i}>.rs]")).collect();
    let mut names: Vec<&str> = vec!["find", "hash", "total", "cannot read src/<3>.rs"];
    names.extend(shown.iter().map(String::as_str));
    names.extend(["500 items: 499 succeeded, 1 failed", "… and 480 more items"]);
    check(&dom, &names).unwrap_or_else(|e| panic!("{e}"));
    assert!(!dom.contains(&in_dom(&format!("hash[src/<{rows}>.rs]"))));
    screenshot(test, &browser, &dir, &page, 2400);
}

#[test]
fn the_check_fails_on_a_broken_page() {
    let test = "the_check_fails_on_a_broken_page";
    let Some(browser) = browser_or_skip(test) else {
        return;
    };
    let mut job = JobBuilder::<()>::new("small");
    job.step("only")
        .run(|()| async { Ok::<_, String>(()) })
        .expect("a step");
    let mut pool = futures::executor::LocalPool::new();
    let instance = job
        .seal()
        .on(FuturesExecutor::new(pool.spawner()))
        .start_local(());
    pool.run_until(instance.wait()).expect("succeeds");
    let page = instance.to_html();
    let dir = folder("broken");

    // A script the policy does not know is blocked: the page is never marked loaded.
    let edited = page.replacen("\"use strict\";", "\"use strict\"; var edited = 1;", 1);
    assert_ne!(edited, page);
    let path = dir.join("edited.html");
    std::fs::write(&path, edited).expect("written");
    let dom = headless(&browser, &dir, &path, &["--dump-dom"]).unwrap_or_else(|e| panic!("{e}"));
    let error = check(&dom, &["only"]).expect_err("a blocked script fails the check");
    assert!(error.contains("did not run to its end"), "{error}");

    // Without the policy, a script that throws after the page's is recorded as an error.
    let start = page
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .expect("a policy");
    let end = start + page[start..].find(">\n").expect("its end") + 2;
    let throwing = format!("{}{}", &page[..start], &page[end..]).replace(
        "</body>",
        "<script>throw new Error(\"boom\");</script>\n</body>",
    );
    let path = dir.join("throwing.html");
    std::fs::write(&path, throwing).expect("written");
    let dom = headless(&browser, &dir, &path, &["--dump-dom"]).unwrap_or_else(|e| panic!("{e}"));
    let error = check(&dom, &["only"]).expect_err("a script error fails the check");
    assert!(
        error.contains("data-report-errors=\"1\"") && error.contains("boom"),
        "{error}"
    );
}
