//! Embedding jobs in an existing smol application: the application owns its executor and
//! worker threads; jobs are started from a request handler that is itself a smol task, and the
//! handler awaits the job like any other future.
//!
//! Run it with `cargo run -p asyncjob-examples --example smol_embedding`.

use std::sync::Arc;
use std::time::Duration;

use asyncjob_examples::sql::{SQL_SUMMARY, SqlLib, Summary};
use asyncjob_smol::SmolExecutor;

/// The application's "request handler": runs one SQL summary job per request.
async fn handle_request(
    request: u32,
    executor: SmolExecutor,
) -> Result<Summary, asyncjob::JobError> {
    let lib = Arc::new(SqlLib::new(executor.clone(), Duration::from_millis(2)));
    let options = asyncjob::JobOptions::new().with_id(format!("request-{request}"));
    SQL_SUMMARY
        .on(executor)
        .options(options)
        .start(lib)
        .result()
        .await
}

fn main() {
    // The application's executor, run by two worker threads until the application stops.
    let ex = Arc::new(async_executor::Executor::<'static>::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let ex = ex.clone();
            let stopped = stopped.clone();
            std::thread::spawn(move || {
                let _ = async_io::block_on(ex.run(stopped.recv()));
            })
        })
        .collect();

    // Ten concurrent requests, each a task of the application that runs a job.
    let executor = SmolExecutor::new(&ex);
    let tasks: Vec<_> = (0..10)
        .map(|request| ex.spawn(handle_request(request, executor.clone())))
        .collect();
    for (request, task) in tasks.into_iter().enumerate() {
        match async_io::block_on(task) {
            Ok(summary) => println!("request {request}: {summary:?}"),
            Err(error) => println!("request {request} failed: {error}"),
        }
    }

    drop(stop); // closing the channel stops the workers
    for worker in workers {
        let _ = worker.join();
    }
}
