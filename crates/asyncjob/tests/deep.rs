//! Very long chains run, and are dropped, without a stack overflow: the engine runs successors
//! in a loop (not by recursion) and frees unfinished steps last-to-first.

use asyncjob::{FuturesExecutor, JobBuilder, JobDefinition};
use futures::executor::LocalPool;

type Res<T> = Result<T, std::convert::Infallible>;

const STEPS: u64 = 1_000_000;

fn chain() -> (JobDefinition<u64>, asyncjob::StepHandle<u64>) {
    let mut job = JobBuilder::<u64>::new("deep");
    let mut link = job
        .step("0")
        .run(|n| async move { Res::Ok(n) })
        .expect("ok");
    for i in 1..STEPS {
        link = job
            .step(i.to_string())
            .after(&link)
            .run(|_, n| async move { Res::Ok(n + 1) })
            .expect("ok");
    }
    (job.seal(), link)
}

#[test]
fn a_million_step_chain_runs_and_drops() {
    let _heavy = heavy();
    let (job, last) = chain();
    let mut pool = LocalPool::new();
    let executor = FuturesExecutor::new(pool.spawner());

    let instance = job.on(executor.clone()).start_local(0);
    pool.run_until(instance.wait()).expect("succeeds");
    assert_eq!(instance.output(&last), Some(STEPS - 1));
    drop(instance);

    // Dropped before any step ran: a million unfinished step futures, each holding its parent's
    // output handle, are freed without recursing down the chain.
    let instance = job.on(executor).start_local(0);
    drop(instance);
    drop(pool);
}

const WIDE: usize = 100_000;

/// Held by every test here, so that they do not run at the same time: on a 2-core machine three
/// heavy tests at once would blur the timings of the linear-cost test.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// root → `n` steps → one sink that takes all their outputs as a `Vec`.
fn wide(n: usize) -> (JobDefinition<u64>, asyncjob::StepHandle<u64>) {
    let mut job = JobBuilder::<u64>::new("wide");
    let root = job
        .step("root")
        .run(|n| async move { Res::Ok(n) })
        .expect("ok");
    let middle: Vec<_> = (0..n)
        .map(|i| {
            job.step(format!("step {i}"))
                .after(&root)
                .run(move |_, r| async move { Res::Ok(r + i as u64) })
                .expect("ok")
        })
        .collect();
    let sink = job
        .step("sink")
        .after(&middle)
        .run(|_, all: Vec<u64>| async move { Res::Ok(all.iter().sum()) })
        .expect("ok");
    (job.seal(), sink)
}

#[test]
fn a_100_000_wide_fan_out_and_vec_fan_in_runs_and_drops() {
    let _heavy = heavy();
    let (job, sink) = wide(WIDE);
    let mut pool = LocalPool::new();
    let executor = FuturesExecutor::new(pool.spawner());

    let instance = job.on(executor.clone()).start_local(1);
    pool.run_until(instance.wait()).expect("succeeds");
    let n = WIDE as u64;
    assert_eq!(instance.output(&sink), Some(n + n * (n - 1) / 2));
    drop(instance);

    // Cancelled once the root has run (and the middle steps are queued): every step ends, and
    // the instance drops.
    let instance = job.on(executor.clone()).start_local(1);
    assert!(pool.try_run_one(), "the root runs");
    assert!(instance.cancel(), "the middle steps are still queued");
    let error = pool.run_until(instance.wait()).expect_err("cancelled");
    assert!(error.is_cancelled());
    let steps = instance.steps();
    assert_eq!(steps[0].state, asyncjob::StepState::Succeeded);
    assert_eq!(steps[WIDE + 1].state, asyncjob::StepState::Cancelled);
    assert!(steps.iter().all(|s| s.state.is_finished()));
    drop(instance);

    // Dropped unstarted: the sink's future holds 100,000 parent handles.
    let instance = job.on(executor).start_local(1);
    drop(instance);
    drop(pool);
}

/// What building, running and drawing a wide job of `n` steps costs: the time of each phase and
/// the size of each output.
#[derive(Debug)]
struct Cost {
    times: [std::time::Duration; 3],
    sizes: [usize; 4],
}

fn cost(n: usize) -> Cost {
    use std::time::Instant;
    let clock = Instant::now();
    let (job, _) = wide(n);
    let build = clock.elapsed();
    let definition_dot = job.to_dot();

    let mut pool = LocalPool::new();
    let executor = FuturesExecutor::new(pool.spawner());
    let clock = Instant::now();
    let instance = job.on(executor).start_local(1);
    pool.run_until(instance.wait()).expect("succeeds");
    let run = clock.elapsed();

    let clock = Instant::now();
    let snapshot = instance.snapshot();
    let dot = snapshot.to_dot();
    let gantt = snapshot.to_mermaid_gantt();
    let trace = snapshot.to_chrome_trace();
    let draw = clock.elapsed();
    assert!(definition_dot.starts_with("digraph") && dot.starts_with("digraph"));
    assert_eq!(gantt.matches("\n    section ").count(), n + 2);
    assert!(trace.ends_with('}') || trace.ends_with("}\n"));
    Cost {
        times: [build, run, draw],
        sizes: [definition_dot.len(), dot.len(), gantt.len(), trace.len()],
    }
}

/// A 100,000-step definition builds, seals, runs and is drawn (definition DOT, instance DOT,
/// Mermaid Gantt, Chrome trace), and each costs about ten times what 10,000 steps cost: output
/// sizes grow by 10–12× (names get longer), times by at most 25× (quadratic would be 100×).
#[test]
fn building_running_and_drawing_cost_linear_in_the_steps() {
    let _heavy = heavy();
    let small = (0..3)
        .map(|_| cost(WIDE / 10))
        .reduce(|a, b| Cost {
            times: std::array::from_fn(|i| a.times[i].min(b.times[i])),
            sizes: b.sizes,
        })
        .expect("three runs");
    let large = cost(WIDE);
    for (what, (s, l)) in ["definition DOT", "instance DOT", "Gantt", "trace"]
        .iter()
        .zip(small.sizes.iter().zip(&large.sizes))
    {
        let ratio = *l as f64 / *s as f64;
        assert!((9.5..=12.5).contains(&ratio), "{what}: {s} → {l} bytes");
    }
    for (what, (s, l)) in ["build", "run", "draw"]
        .iter()
        .zip(small.times.iter().zip(&large.times))
    {
        // Below a millisecond the clock says little: count it as one.
        let s = (*s).max(std::time::Duration::from_millis(1));
        let ratio = l.as_secs_f64() / s.as_secs_f64();
        eprintln!("{what}: {s:?} for 10,000 steps, {l:?} for 100,000 ({ratio:.1}×)");
        assert!(ratio <= 25.0, "{what}: {s:?} → {l:?} ({ratio:.1}×)");
    }
}
