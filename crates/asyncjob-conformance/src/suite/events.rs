//! Watching a running job (issue 13): the event log of every step is a valid path of the state
//! machine that ends in the step's final state; subscribers that come late see the same log;
//! observers see it too, and one that panics is contained; `output_of` and `result()` resolve
//! when their step ends, whatever unrelated branches do.

use std::collections::HashMap;

use asyncjob::{Event, EventKind, JobError, JobSnapshot, StepState};

/// How a step takes one of its dependencies, for [`check_log_with`]: a plain handle in `after`
/// or `wait_for`, one wrapped in [`optional`](asyncjob::optional), or one wrapped in
/// [`allow_failure`](asyncjob::allow_failure). Ordered as the kinds are grouped when a test
/// passes one `Vec` of each (plain first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Edge {
    /// A plain dependency: it must end with an output (succeed, or recover).
    Strict,
    /// `optional(&h)`: it may also be omitted (the step then receives `None`).
    Optional,
    /// `allow_failure(&h)`: it may end in any way but cancelled (the step receives `Err`).
    Tolerant,
}

impl Edge {
    /// Whether a dependency that ended in `state` lets the step run (rather than skip, omit
    /// or, cancelled, leave it to the cancellation).
    pub fn lets_run(self, state: StepState) -> bool {
        match state {
            StepState::Succeeded | StepState::Recovered => true,
            StepState::Omitted => self != Edge::Strict,
            StepState::Failed | StepState::Skipped => self == Edge::Tolerant,
            _ => false,
        }
    }
}

/// The problems of the event log `events` of a finished run whose final snapshot is
/// `snapshot` and whose `wait()` returned `result`; empty if there are none. It does not know
/// how each step takes its dependencies ([`check_log_with`] does), so a `Queued` only has to
/// come after each dependency's end, whatever it was but `Cancelled`.
pub fn check_log(
    events: &[Event],
    snapshot: &JobSnapshot,
    result: &Result<(), JobError>,
) -> Vec<String> {
    check_log_with(events, snapshot, result, |_, _| None)
}

/// The problems of the event log `events` of a finished run whose final snapshot is
/// `snapshot` and whose `wait()` returned `result`, where `edge(step, dependency)` says how
/// `step` takes `dependency` (`None`: unknown); empty if there are none.
///
/// Checks that offsets never decrease along the log, and for every step: its events are
/// numbered 1, 2, …; each is a transition the state machine allows from the state before it
/// (from `Waiting`; `Waiting → Omitted` for a step omitted after a dependency,
/// `Running → Omitted` for one whose condition did not hold, `Running → Recovered` for one its
/// fallback recovered); `Running` attempts count up from 1, one per retry; its last event
/// enters its final state in `snapshot`, and it has as many `Running` events as `snapshot`
/// counts attempts (or one and no attempt: its condition ended it). Across steps: a step's
/// `Queued` comes after the end of each of its dependencies, an end that lets it run
/// ([`Edge::lets_run`]); a step skipped or omitted without running comes after the end of a
/// dependency that ends it so (a failed or skipped one, an omitted one); the items of a map
/// step are numbered apart, move (`Running ⇄ Retrying`, then an end) while their map runs, and
/// end where the snapshot says; the log ends with exactly one `JobEnded`, whose outcome is
/// `result`.
pub fn check_log_with(
    events: &[Event],
    snapshot: &JobSnapshot,
    result: &Result<(), JobError>,
    edge: impl Fn(usize, usize) -> Option<Edge>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let steps = snapshot.steps.len();
    let mut state = vec![StepState::Waiting; steps];
    let mut seq = vec![0u32; steps];
    let mut last_offset = std::time::Duration::ZERO;
    let mut attempt = vec![0u32; steps];
    // The final state of each step whose end has been logged.
    let mut ended_as: HashMap<usize, StepState> = HashMap::new();
    // The items of map steps: state, seq and attempt per (step, item position).
    let mut items: HashMap<(usize, usize), (StepState, u32, u32)> = HashMap::new();
    let mut ended = None;
    for (position, event) in events.iter().enumerate() {
        if event.offset < last_offset {
            problems.push(format!("event {position} goes back in time: {event}"));
        }
        last_offset = event.offset;
        if ended.is_some() {
            problems.push(format!("event {position} comes after JobEnded: {event}"));
            continue;
        }
        let Some(step) = &event.step else {
            match &event.kind {
                EventKind::JobEnded { outcome } => ended = Some(outcome.clone()),
                _ => problems.push(format!("event {position} names no step: {event}")),
            }
            continue;
        };
        let i = step.index;
        let Some(meta) = snapshot.steps.get(i) else {
            problems.push(format!(
                "event {position} names step {i}, which does not exist"
            ));
            continue;
        };
        if step.name != meta.name {
            problems.push(format!("event {position} calls step {i} {:?}", step.name));
        }
        if let Some(item) = &step.item {
            // An item of a map: Running (attempt n) ⇄ Retrying, then an end; its own seq.
            let (from, item_seq, item_attempt) =
                items
                    .entry((i, item.position))
                    .or_insert((StepState::Waiting, 0, 0));
            *item_seq += 1;
            if step.seq != *item_seq {
                problems.push(format!(
                    "{}: event {position} has seq {}, expected {item_seq}",
                    item.name, step.seq
                ));
            }
            if state[i] != StepState::Running {
                problems.push(format!(
                    "{}: an item moved while its map was {} (event {position})",
                    item.name, state[i]
                ));
            }
            if let EventKind::Running { attempt: n } = &event.kind {
                if *n != *item_attempt + 1 {
                    problems.push(format!(
                        "{}: attempt {n} follows attempt {item_attempt}",
                        item.name
                    ));
                }
                *item_attempt = *n;
            }
            let Some(next) = event.kind.state() else {
                continue;
            };
            let item_allowed = matches!(
                (*from, next),
                (
                    StepState::Waiting,
                    StepState::AwaitingPermit | StepState::Running | StepState::Cancelled
                ) | (
                    StepState::AwaitingPermit,
                    StepState::AwaitingPermit
                        | StepState::Running
                        | StepState::Failed
                        | StepState::Cancelled
                ) | (
                    StepState::Running,
                    StepState::Retrying
                        | StepState::Succeeded
                        | StepState::Failed
                        | StepState::Cancelled
                ) | (
                    // An item gives its permits back while it backs off: its next attempt
                    // waits for them again.
                    StepState::Retrying,
                    StepState::AwaitingPermit
                        | StepState::Running
                        | StepState::Failed
                        | StepState::Cancelled
                )
            );
            if !item_allowed {
                problems.push(format!(
                    "{}: {from} -> {next} is not a transition of an item (event {position})",
                    item.name
                ));
            }
            *from = next;
            continue;
        }
        seq[i] += 1;
        if step.seq != seq[i] {
            problems.push(format!(
                "{}: event {position} has seq {}, expected {}",
                meta.name, step.seq, seq[i]
            ));
        }
        let Some(next) = event.kind.state() else {
            continue;
        };
        if !allowed(state[i], next) {
            problems.push(format!(
                "{}: {} -> {next} is not a transition (event {position})",
                meta.name, state[i]
            ));
        }
        let dependencies = || {
            meta.data_dependencies
                .iter()
                .chain(&meta.ordering_dependencies)
                .copied()
        };
        match &event.kind {
            EventKind::Running { attempt: n } => {
                if *n != attempt[i] + 1 {
                    problems.push(format!(
                        "{}: attempt {n} follows attempt {}",
                        meta.name, attempt[i]
                    ));
                }
                attempt[i] = *n;
            }
            EventKind::Retrying { attempt: n, .. } if *n != attempt[i] => {
                problems.push(format!(
                    "{}: attempt {n} failed during attempt {}",
                    meta.name, attempt[i]
                ));
            }
            EventKind::Queued => {
                for dependency in dependencies() {
                    let lets_run = |end: StepState| match edge(i, dependency) {
                        Some(edge) => edge.lets_run(end),
                        None => end.is_finished() && end != StepState::Cancelled,
                    };
                    match ended_as.get(&dependency) {
                        Some(&end) if lets_run(end) => {}
                        end => problems.push(format!(
                            "{}: queued (event {position}) after its dependency {dependency} \
                             ended {}",
                            meta.name,
                            end.map_or("not yet".to_owned(), |end| format!("{end}"))
                        )),
                    }
                }
            }
            // Skipped or omitted before it ran: by a dependency that had ended so.
            EventKind::Skipped { .. } | EventKind::Omitted { .. }
                if state[i] == StepState::Waiting =>
            {
                let omitted = next == StepState::Omitted;
                let ends_it = |dependency: usize| {
                    let end = ended_as.get(&dependency).copied();
                    let fits = match end {
                        Some(StepState::Omitted) => omitted,
                        Some(StepState::Failed | StepState::Skipped) => !omitted,
                        _ => false,
                    };
                    fits && end.is_some_and(|end| {
                        edge(i, dependency).is_none_or(|edge| !edge.lets_run(end))
                    })
                };
                if !dependencies().any(ends_it) {
                    problems.push(format!(
                        "{}: {next} (event {position}) before any dependency ended in a way \
                         that {}",
                        meta.name,
                        if omitted { "omits it" } else { "skips it" }
                    ));
                }
            }
            _ => {}
        }
        if next.is_finished() {
            ended_as.insert(i, next);
        }
        state[i] = next;
    }
    for (i, meta) in snapshot.steps.iter().enumerate() {
        for item in &meta.items {
            let logged = items
                .get(&(i, item.position))
                .map_or(StepState::Waiting, |(state, _, _)| *state);
            if logged != item.state {
                problems.push(format!(
                    "{}: the log ends in {logged}, the snapshot says {}",
                    item.name, item.state
                ));
            }
        }
        if state[i] != meta.state {
            problems.push(format!(
                "{}: the log ends in {}, the snapshot says {}",
                meta.name, state[i], meta.state
            ));
        }
        // A step its condition ended started (one `Running`) and made no attempt.
        let ended_by_condition = attempt[i] == 1
            && meta.attempts == 0
            && matches!(
                meta.state,
                StepState::Omitted | StepState::Failed | StepState::Cancelled
            );
        if attempt[i] != meta.attempts && !ended_by_condition {
            problems.push(format!(
                "{}: {} Running events, the snapshot counts {} attempts",
                meta.name, attempt[i], meta.attempts
            ));
        }
    }
    match ended {
        None => problems.push("the log has no JobEnded event".to_owned()),
        Some(outcome) => {
            let kind = |r: &Result<(), JobError>| {
                r.as_ref()
                    .err()
                    .map(|e| (e.kind(), e.step().map(str::to_owned)))
            };
            if kind(&outcome) != kind(result) {
                problems.push(format!(
                    "JobEnded says {outcome:?}, wait() returned {result:?}"
                ));
            }
        }
    }
    problems
}

/// Whether the state machine moves a step from `from` to `to`.
fn allowed(from: StepState, to: StepState) -> bool {
    use StepState::*;
    matches!(
        (from, to),
        (Waiting, Queued | Skipped | Omitted | Cancelled)
            | (Queued, AwaitingPermit | Running | Failed | Cancelled)
            | (
                AwaitingPermit,
                AwaitingPermit | Running | Failed | Cancelled
            )
            | (
                Running,
                Retrying | Succeeded | Recovered | Failed | Omitted | Cancelled
            )
            | (Retrying, AwaitingPermit | Running | Failed | Cancelled)
    )
}

/// The log as comparable text: one line per event, its offset included.
pub fn log_lines(events: &[Event]) -> Vec<String> {
    events.iter().map(ToString::to_string).collect()
}

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_events {
    ($harness:expr, $new:ident, $mode:ident) => {
        use std::time::Duration;

        use asyncjob::retry::Retry;
        use asyncjob::{EventKind, Events};
        use futures::StreamExt;

        use $crate::suite::events::{check_log, log_lines};

        /// A job with every kind of step end: `flaky` is retried twice (back-offs of 5 ms
        /// and 10 ms) then succeeds, `chain` follows it, `bad` fails and `skipped` depends on
        /// it, `after` waits for `chain` without its output.
        fn watched_job() -> asyncjob::JobDefinition<Arc<AtomicUsize>, $mode> {
            let mut job = JobBuilder::<Arc<AtomicUsize>>::$new("watched");
            let flaky = build(
                job.step("flaky")
                    .retry(Retry::exponential(4, Duration::from_millis(5)))
                    .run(|calls: Arc<AtomicUsize>| async move {
                        match calls.fetch_add(1, Ordering::SeqCst) {
                            0 | 1 => Err("not yet"),
                            n => Ok(n),
                        }
                    }),
            );
            let chain = build(
                job.step("chain")
                    .after(&flaky)
                    .run(|_, n| async move { Ok::<_, String>(n + 1) }),
            );
            let bad = build(
                job.step("bad")
                    .run(|_| async { Err::<u32, _>("the disk is on fire") }),
            );
            build(
                job.step("skipped")
                    .after(&bad)
                    .run(|_, n| async move { Ok::<_, String>(n) }),
            );
            build(
                job.step("after")
                    .wait_for(&chain)
                    .run(|_| async { Ok::<_, String>(()) }),
            );
            job.seal()
        }

        fn collect(events: Events) -> Vec<asyncjob::Event> {
            futures::executor::block_on(events.collect())
        }

        $crate::__suite_tests! { ($harness, $mode)
            /// The log of every step is a valid path of the state machine, in causal order, and
            /// ends where the snapshot says; retries carry their error and back-off; skips
            /// their root cause; the job's end comes last, with `wait()`'s outcome.
            fn every_step_logs_a_valid_path_to_its_final_state(h) {
                let timer = RecordingTimer::new();
                let options = JobOptions::new().record_events();
                let instance = h.start_with_timer(&watched_job(), Arc::default(), options, timer.clone());
                let result = h.block_on(instance.wait());
                assert!(result.is_err(), "bad fails the job");
                let events = collect(instance.events().expect("recording"));
                let snapshot = instance.snapshot();
                let problems = check_log(&events, &snapshot, &result);
                assert!(problems.is_empty(), "on {}: {problems:#?}\n{:#?}", h.name(), log_lines(&events));

                let retries: Vec<_> = events
                    .iter()
                    .filter_map(|e| match &e.kind {
                        EventKind::Retrying { attempt, error, backoff } => {
                            Some((*attempt, error.step().map(str::to_owned), *backoff))
                        }
                        _ => None,
                    })
                    .collect();
                let flaky = Some("flaky".to_owned());
                assert_eq!(retries, [
                    (1, flaky.clone(), Duration::from_millis(5)),
                    (2, flaky, Duration::from_millis(10)),
                ]);
                assert_eq!(timer.sleeps(), [Duration::from_millis(5), Duration::from_millis(10)]);
                let skipped = events
                    .iter()
                    .find_map(|e| match &e.kind {
                        EventKind::Skipped { error } => Some(error.clone()),
                        _ => None,
                    })
                    .expect("skipped is skipped");
                assert_eq!(skipped.root_cause().step(), Some("bad"));
                assert!(matches!(
                    events.last().map(|e| &e.kind),
                    Some(EventKind::JobEnded { outcome: Err(_) })
                ));
            }

            /// Subscribers that arrive at the start, in the middle of the run (once `flaky`
            /// has succeeded, while `after` waits on a gate) and after the end, and one read on
            /// another thread, all receive the same log.
            fn late_and_remote_subscribers_see_the_same_log(h) {
                let (open, gate) = oneshot::channel::<()>();
                let gate = Arc::new(Mutex::new(Some(gate)));
                let mut job = JobBuilder::<Arc<Mutex<Option<oneshot::Receiver<()>>>>>::$new("gated");
                let first = build(job.step("first").run(|_| async { Ok::<_, String>(1u32) }));
                build(job.step("gated").after(&first).run(|gate: Arc<Mutex<Option<oneshot::Receiver<()>>>>, n| async move {
                    let gate = gate.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(gate) = gate {
                        let _ = gate.await;
                    }
                    Ok::<_, String>(n + 1)
                }));
                let options = JobOptions::new().record_events();
                let instance = h.start(&job.seal(), gate, options);
                let early = instance.events().expect("recording");
                let remote = instance.events().expect("recording");
                let remote = std::thread::spawn(move || collect(remote));
                h.block_on(until(|| {
                    instance.step_by_name("gated").map(|s| s.state) == Some(StepState::Running)
                }));
                let mid = instance.events().expect("recording");
                assert!(!instance.is_finished(), "the gate holds the job");
                let _ = open.send(());
                h.block_on(instance.wait()).expect("the job succeeds");
                let late = collect(instance.events().expect("recording"));
                let (early, mid) = (collect(early), collect(mid));
                let remote = remote.join().expect("the remote subscriber");
                assert_eq!(late.len(), 7, "{:#?}", log_lines(&late));
                for (who, log) in [("early", &early), ("mid-run", &mid), ("remote", &remote)] {
                    assert_eq!(log_lines(log), log_lines(&late), "{who} on {}", h.name());
                }
            }

            /// An observer sees every event, in the log's order; one that panics is called no
            /// more, the steps go on, and `observer_panics()` reports it.
            fn observers_see_every_event_and_a_panicking_one_is_contained(h) {
                let seen = Arc::new(Mutex::new(Vec::new()));
                let record = seen.clone();
                let calls = Arc::new(AtomicUsize::new(0));
                let count = calls.clone();
                let options = JobOptions::new()
                    .observe(move |_: &asyncjob::Event| {
                        if count.fetch_add(1, Ordering::SeqCst) == 1 {
                            panic!("the observer broke");
                        }
                    })
                    .observe(move |event: &asyncjob::Event| {
                        record.lock().unwrap_or_else(|e| e.into_inner()).push(event.to_string());
                    });
                let instance = h.start_with_timer(&watched_job(), Arc::default(), options, RecordingTimer::new());
                let result = h.block_on(instance.wait());
                assert_eq!(
                    result.expect_err("bad fails").step(),
                    Some("bad"),
                    "the observer's panic failed no step"
                );
                let log = log_lines(&collect(instance.events().expect("observing records")));
                let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
                assert_eq!(seen, log, "on {}", h.name());
                assert_eq!(calls.load(Ordering::SeqCst), 2, "called no more after its panic");
                let panics = instance.observer_panics();
                assert_eq!(panics.len(), 1);
                assert!(panics[0].contains("the observer broke"), "{panics:?}");
            }

            /// Without `record_events` (or an observer) there is no log, and `events()` says so.
            fn a_run_without_the_option_records_nothing(h) {
                let instance = h.start_with_timer(&watched_job(), Arc::default(), JobOptions::new(), RecordingTimer::new());
                let _ = h.block_on(instance.wait());
                assert!(instance.events().is_err(), "no log without the option");
                assert!(instance.observer_panics().is_empty());
            }

            /// `output_of` resolves when its step ends, while an unrelated slow branch runs on;
            /// `result()` succeeds though an unrelated branch fails.
            fn output_of_and_result_ignore_unrelated_branches(h) {
                let (release, gate) = oneshot::channel::<()>();
                let gate = Arc::new(Mutex::new(Some(gate)));
                let mut job = JobBuilder::<Arc<Mutex<Option<oneshot::Receiver<()>>>>>::$new("branches");
                let fast = build(job.step("fast").run(|_| async { Ok::<_, String>(7u32) }));
                let slow = build(job.step("slow").run(|gate: Arc<Mutex<Option<oneshot::Receiver<()>>>>| async move {
                    let gate = gate.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(gate) = gate {
                        let _ = gate.await;
                    }
                    Err::<u32, _>("the slow branch failed")
                }));
                let total = build(job.step("total").after(&fast).run(|_, n| async move { Ok::<_, String>(n * 6) }));
                let job = build(job.seal().with_result(&total));
                let instance = h.start_with_result(&job, gate, JobOptions::new());

                assert_eq!(h.block_on(instance.output_of(&fast)).expect("fast succeeds"), 7, "on {}", h.name());
                assert_eq!(h.block_on(instance.result()).expect("total succeeds"), 42, "on {}", h.name());
                assert!(!instance.is_finished(), "slow is still running");
                let slow_state = instance.step(&slow).map(|s| s.state);
                assert!(
                    matches!(slow_state, Some(StepState::Queued | StepState::Running)),
                    "{slow_state:?}"
                );

                let _ = release.send(());
                let error = h.block_on(instance.output_of(&slow)).expect_err("slow fails");
                assert_eq!(error.step(), Some("slow"));
                assert_eq!(h.block_on(instance.result()).expect("the result stands"), 42);
                assert_eq!(h.block_on(instance.wait()).expect_err("the job fails").step(), Some("slow"));

                let other = {
                    let mut other = JobBuilder::<()>::$new("other");
                    build(other.step("x").run(|()| async { Ok::<_, String>(0u32) }))
                };
                let error = h.block_on(instance.output_of(&other)).expect_err("not a step of this job");
                assert_eq!(error.kind(), JobErrorKind::UnknownStep);
            }
        }
    };
}
