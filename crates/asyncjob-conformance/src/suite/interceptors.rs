//! Interceptors and tracing: every attempt runs inside the job's and the step's interceptors,
//! and `TracingInterceptor` puts it in a `step` span.

/// A process-wide `tracing` subscriber that records spans and their fields, and which spans were
/// entered. Set once; tests look only at the spans of their own job instance.
pub mod recorder {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// A span's name and fields.
    pub type SpanData = (String, BTreeMap<String, String>);

    /// What the subscriber saw.
    #[derive(Debug, Default)]
    pub struct Recorder {
        next: AtomicU64,
        /// Every span, by id.
        pub spans: Mutex<HashMap<u64, SpanData>>,
        /// The ids of the spans that were entered.
        pub entered: Mutex<HashSet<u64>>,
    }

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    struct Global(&'static Recorder);

    impl Subscriber for Global {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attributes: &Attributes<'_>) -> Id {
            let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
            let mut fields = BTreeMap::new();
            attributes.record(&mut Fields(&mut fields));
            let name = attributes.metadata().name().to_owned();
            self.0
                .spans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, (name, fields));
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, id: &Id) {
            self.0
                .entered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.into_u64());
        }
        fn exit(&self, _: &Id) {}
    }

    /// The recorder, set as the global subscriber on first use.
    pub fn get() -> &'static Recorder {
        static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
        RECORDER.get_or_init(|| {
            let recorder: &'static Recorder = Box::leak(Box::default());
            // Fails only if another global subscriber is set, which nothing here does.
            let _ = tracing::subscriber::set_global_default(Global(recorder));
            recorder
        })
    }
}

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_interceptors {
    ($harness:expr, $new:ident, $mode:ident) => {
        use $crate::suite::interceptors::recorder;

        $crate::__suite_tests! { ($harness, $mode)
            /// Interceptors run around every attempt with the job, instance id, step and attempt number;
            /// the job's run outside the step's.
            fn interceptors_see_job_step_and_attempt(h) {
                use asyncjob::intercept::{AttemptScope, Interceptor, StepContext};
                use asyncjob::retry::Retry;

                type Log = Arc<Mutex<Vec<String>>>;
                struct Recorder(&'static str, Log);
                struct Scope(String, Log);
                impl Interceptor for Recorder {
                    fn attempt(&self, c: &StepContext<'_>) -> Box<dyn AttemptScope> {
                        let label = format!("{} {}/{}/{}#{}", self.0, c.job, c.job_id, c.step, c.attempt);
                        Box::new(Scope(label, self.1.clone()))
                    }
                }
                impl AttemptScope for Scope {
                    fn enter(&self) {
                        self.1
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(format!("enter {}", self.0));
                    }
                    fn exit(&self) {
                        self.1
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(format!("exit {}", self.0));
                    }
                }

                let log: Log = Arc::default();
                let mut job = JobBuilder::<Arc<Flaky>>::$new("intercepted");
                job.intercept(Recorder("job", log.clone()));
                build(
                    job.step("flaky")
                        .retry(Retry::fixed(2, std::time::Duration::ZERO))
                        .intercept(Recorder("step", log.clone()))
                        .run(|f: Arc<Flaky>| async move {
                            if f.call() == 1 {
                                return Err("first");
                            }
                            Ok(())
                        }),
                );
                // A step without options of its own still runs inside the job's interceptors.
                build(job.step("plain").run(|_| async { Res::Ok(()) }));
                let instance = h.start(
                    &job.seal(),
                    Arc::new(Flaky::default()),
                    JobOptions::new().with_id("i-1"),
                );
                h.block_on(instance.wait()).expect("succeeds");
                let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                assert!(
                    log.contains(&"enter job intercepted/i-1/plain#1".to_owned()),
                    "on {}: {log:?}",
                    h.name()
                );
                assert!(
                    !log.iter()
                        .any(|l| l.starts_with("enter step intercepted/i-1/plain"))
                );
                let expected: Vec<String> = [1, 2]
                    .iter()
                    .flat_map(|n| {
                        [
                            format!("enter job intercepted/i-1/flaky#{n}"),
                            format!("enter step intercepted/i-1/flaky#{n}"),
                            format!("exit step intercepted/i-1/flaky#{n}"),
                            format!("exit job intercepted/i-1/flaky#{n}"),
                        ]
                    })
                    .collect();
                // Each attempt is entered and exited, properly nested, at least once (once for the call of
                // the step function, once per poll of its future). The other step may run in between.
                let log: Vec<String> = log.into_iter().filter(|l| l.contains("/flaky#")).collect();
                for (attempt, window) in expected.chunks(4).enumerate() {
                    let first = log.iter().position(|l| l == &window[0]);
                    let first = first.unwrap_or_else(|| {
                        panic!(
                            "attempt {} is entered on {}: {log:?}",
                            attempt + 1,
                            h.name()
                        )
                    });
                    assert_eq!(&log[first..first + 4], window, "on {}", h.name());
                }
            }

            /// A map's items run inside the job's interceptors and the map's own, one scope per
            /// attempt of each item, named after the item.
            fn interceptors_run_around_each_item_of_a_map(h) {
                use asyncjob::intercept::{AttemptScope, Interceptor, StepContext};
                use asyncjob::retry::Retry;

                type Log = Arc<Mutex<Vec<String>>>;
                struct Recorder(&'static str, Log);
                struct Scope;
                impl Interceptor for Recorder {
                    fn attempt(&self, c: &StepContext<'_>) -> Box<dyn AttemptScope> {
                        let label = format!("{} {}#{}", self.0, c.step, c.attempt);
                        self.1.lock().unwrap_or_else(|e| e.into_inner()).push(label);
                        Box::new(Scope)
                    }
                }
                impl AttemptScope for Scope {
                    fn enter(&self) {}
                    fn exit(&self) {}
                }

                let log: Log = Arc::default();
                let calls = Arc::new(AtomicUsize::new(0));
                let counted = calls.clone();
                let mut job = JobBuilder::<()>::$new("items");
                job.intercept(Recorder("job", log.clone()));
                let numbers = build(job.step("numbers").run(|_| async { Res::Ok(vec![0u32, 1, 2]) }));
                build(
                    job.step("each")
                        .map(&numbers)
                        .retry(Retry::fixed(2, std::time::Duration::ZERO))
                        .intercept(Recorder("map", log.clone()))
                        .run(move |_, n: u32| {
                            // Item 1 fails its first attempt.
                            let first = n == 1 && counted.fetch_add(1, Ordering::SeqCst) == 0;
                            async move { if first { Err("once") } else { Ok(n) } }
                        }),
                );
                let instance = h.start(&job.seal(), (), JobOptions::new());
                h.block_on(instance.wait()).unwrap_or_else(|error| panic!("on {}: {error:#}", h.name()));
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                log.sort();
                let expected = [
                    "job each[0]#1", "job each[1]#1", "job each[1]#2", "job each[2]#1", "job numbers#1",
                    "map each[0]#1", "map each[1]#1", "map each[1]#2", "map each[2]#1",
                ];
                assert_eq!(log, expected, "on {}", h.name());
            }

            /// With the `tracing` feature, `TracingInterceptor` puts each attempt in a `step` span with the
            /// job, instance id, step and attempt as fields, and enters it.
            fn tracing_spans_carry_job_step_and_attempt(h) {
                use asyncjob::instrument::TracingInterceptor;
                use asyncjob::retry::Retry;

                let recorder = recorder::get();
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let id = format!(
                    "traced-{}-{}",
                    h.name(),
                    NEXT.fetch_add(1, Ordering::SeqCst)
                );

                let mut job = JobBuilder::<Arc<Flaky>>::$new("traced");
                job.intercept(TracingInterceptor::new());
                build(
                    job.step("flaky")
                        .retry(Retry::fixed(2, std::time::Duration::ZERO))
                        .run(|f: Arc<Flaky>| async move {
                            if f.call() == 1 {
                                return Err("first");
                            }
                            Ok(())
                        }),
                );
                let options = JobOptions::new().with_id(id.clone());
                let instance = h.start(&job.seal(), Arc::new(Flaky::default()), options);
                h.block_on(instance.wait()).expect("succeeds");

                let spans = recorder.spans.lock().unwrap_or_else(|e| e.into_inner());
                let entered = recorder.entered.lock().unwrap_or_else(|e| e.into_inner());
                let mut mine: Vec<(String, &str, bool)> = spans
                    .iter()
                    .filter(|(_, (_, fields))| fields.get("job_id") == Some(&id))
                    .map(|(span, (name, fields))| {
                        assert_eq!(name, "step");
                        assert_eq!(fields.get("job").map(String::as_str), Some("traced"));
                        assert_eq!(fields.get("step").map(String::as_str), Some("flaky"));
                        let attempt = fields.get("attempt").map(String::as_str).unwrap_or("?");
                        (attempt.to_owned(), "flaky", entered.contains(span))
                    })
                    .collect();
                mine.sort();
                assert_eq!(
                    mine,
                    [
                        ("1".to_owned(), "flaky", true),
                        ("2".to_owned(), "flaky", true)
                    ],
                    "on {}",
                    h.name()
                );
            }
        }
    };
}
