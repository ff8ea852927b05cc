//! A crawler-like job under a shared limit: each instance crawls one site — list its pages,
//! fetch every page (a map step, one tracked item per page), index the results — and all the
//! fetches of all the instances share one [`Limit`] of 8 permits, as connections to a proxy
//! would. Five sites are crawled at once; never more than 8 fetches are in flight, and the
//! instance of the site marked urgent gets the permits first.
//!
//! Run it with `cargo run -p asyncjob-examples --example crawl`.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncjob::{
    BoxError, DefinitionError, JobBuilder, JobOptions, JobWithResult, Limit, StepHandle,
};
use asyncjob_tokio::TokioExecutor;

/// At most this many fetches at once, across every crawl.
const CONNECTIONS: usize = 8;

/// The connections every crawl shares.
static CONNECTIONS_LIMIT: LazyLock<Limit> =
    LazyLock::new(|| Limit::new("connections", CONNECTIONS));

/// Fetches in flight now, and the most there ever were.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MOST_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// The crawl of one site, and the handle of its fetch step (to read its items).
struct Crawl {
    job: JobWithResult<Site, String>,
    fetch: StepHandle<Vec<usize>>,
}

static CRAWL: LazyLock<Crawl> = LazyLock::new(|| build().expect("the job is well formed"));

/// A site to crawl: its name and how many pages it has.
#[derive(Debug, Clone)]
struct Site {
    name: &'static str,
    pages: usize,
}

fn build() -> Result<Crawl, DefinitionError> {
    let mut job = JobBuilder::<Site>::new("crawl");
    let pages = job.step("list pages").run(|site: Site| async move {
        let pages: Vec<String> = (0..site.pages)
            .map(|n| format!("https://{}/page/{n}", site.name))
            .collect();
        Ok::<_, BoxError>(pages)
    })?;
    let fetch = job
        .step("fetch")
        .map(&pages)
        .key(|url: &String| url.rsplit('/').next().unwrap_or_default().to_owned())
        .needs(&CONNECTIONS_LIMIT)
        .run(|_, url: String| async move {
            let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
            MOST_IN_FLIGHT.fetch_max(now, Ordering::SeqCst);
            // The "download": a few milliseconds, longer for longer URLs.
            tokio::time::sleep(Duration::from_millis(2 + (url.len() % 4) as u64)).await;
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, BoxError>(url.len() * 100)
        })?;
    let index =
        job.step("index")
            .after(&fetch)
            .run(|site: Site, sizes: Vec<usize>| async move {
                let bytes: usize = sizes.iter().sum();
                Ok::<_, BoxError>(format!(
                    "{}: {} pages, {bytes} bytes",
                    site.name,
                    sizes.len()
                ))
            })?;
    Ok(Crawl {
        job: job.seal().with_result(&index)?,
        fetch,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sites = [
        Site {
            name: "docs.example",
            pages: 40,
        },
        Site {
            name: "blog.example",
            pages: 25,
        },
        Site {
            name: "shop.example",
            pages: 60,
        },
        Site {
            name: "news.example",
            pages: 30,
        },
        Site {
            name: "status.example",
            pages: 10,
        },
    ];
    let crawl = &*CRAWL;
    let runs: Vec<_> = sites
        .iter()
        .map(|site| {
            // The status page is urgent: its fetches go first when connections are scarce.
            let priority = if site.name.starts_with("status") {
                10
            } else {
                0
            };
            let options = JobOptions::new()
                .with_id(site.name)
                .priority(&crawl.fetch, priority);
            (
                site.name,
                crawl
                    .job
                    .on(TokioExecutor::new())
                    .options(options)
                    .start(site.clone()),
            )
        })
        .collect();
    for (name, run) in &runs {
        let summary = run.result().await?;
        let fetch = run.step(&crawl.fetch).expect("a step of the job");
        let waited: Duration = fetch.items.iter().map(|item| item.permit_wait).sum();
        let took = fetch.end_offset.unwrap_or_default();
        println!(
            "{summary} (fetched in {}, items waited {} for a connection)",
            asyncjob::visual::format_duration(took),
            asyncjob::visual::format_duration(waited),
        );
        let _ = name;
    }
    let most = MOST_IN_FLIGHT.load(Ordering::SeqCst);
    println!("at most {most} fetches in flight (limit {CONNECTIONS})");
    assert!(most <= CONNECTIONS, "the limit held");
    assert_eq!(CONNECTIONS_LIMIT.available(), CONNECTIONS);
    Ok(())
}
