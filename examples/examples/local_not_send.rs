//! Steps that are not `Send`: they share an `Rc<RefCell<_>>` cache through the job input, hold
//! `Rc`s across `.await`s and return `Rc`s. Such a job is built with `JobBuilder::new_local` and
//! runs on the single-threaded executor of `asyncjob-local`.
//!
//! Here whatever is `!Send` — the cache and the local timer — comes in through the job input,
//! which a local job may make `!Send`, so that one definition serves runs with different
//! caches. A local step function may also capture an `Rc` itself (a `move` closure); the
//! definition is then `!Send` too, and lives in a `thread_local!` rather than a `static`.
//!
//! Run it with `cargo run -p asyncjob-examples --example local_not_send`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use asyncjob::{JobBuilder, Timer};
use asyncjob_local::{LocalHandle, LocalRuntime};

/// A cache shared by every step of one run: `Rc<RefCell<_>>`, so not `Send`.
type Cache = Rc<RefCell<HashMap<String, u64>>>;

/// The job input: the cache, and the local runtime's timer.
#[derive(Clone)]
struct Ctx {
    cache: Cache,
    timer: LocalHandle,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = LocalRuntime::new();
    let mut job = JobBuilder::<Ctx>::new_local("local-cache");
    let fetches = ["alpha", "beta", "gamma"]
        .into_iter()
        .map(|key| {
            job.step(format!("fetch {key}"))
                .run(move |ctx: Ctx| async move {
                    ctx.timer.sleep(Duration::from_millis(3)).await; // `ctx` (Rc) is held across
                    let value = key.len() as u64 * 10;
                    ctx.cache.borrow_mut().insert(key.to_owned(), value);
                    Ok::<_, String>(Rc::new(value)) // outputs may be !Send too
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let total =
        job.step("total")
            .after(&fetches)
            .run(|ctx: Ctx, values: Vec<Rc<u64>>| async move {
                let sum: u64 = values.iter().map(|v| **v).sum();
                Ok::<_, String>((sum, ctx.cache.borrow().len()))
            })?;
    let job = job.seal().with_result(&total)?;

    let cache: Cache = Rc::default();
    let ctx = Ctx {
        cache: cache.clone(),
        timer: runtime.handle(),
    };
    let instance = job.on(runtime.handle()).start_local(ctx);
    let (sum, cached) = runtime.block_on(instance.result())?;
    println!(
        "sum {sum} from {cached} cached entries: {:?}",
        cache.borrow()
    );
    Ok(())
}
