//! The same SQL summary definition as `sql_summary`, unchanged, run on smol's executor.
//!
//! Run it with `cargo run -p asyncjob-examples --example sql_summary_smol`.

use std::sync::Arc;
use std::time::Duration;

use asyncjob_examples::print_steps;
use asyncjob_examples::sql::{SQL_SUMMARY, SqlLib};
use asyncjob_smol::SmolExecutor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ex = Arc::new(async_executor::Executor::new());
    let executor = SmolExecutor::new(&ex);
    let lib = Arc::new(SqlLib::new(executor.clone(), Duration::from_millis(5)));

    let instance = SQL_SUMMARY.on(executor).start(lib);
    // The executor runs while we wait for the result.
    let summary = async_io::block_on(ex.run(instance.result()))?;

    println!("on smol: {summary:?}\n");
    print_steps(&instance);
    Ok(())
}
