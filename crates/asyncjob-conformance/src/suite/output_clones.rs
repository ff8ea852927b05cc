//! How often a step's output is cloned (issue 12, item 5): never for the step's own completion,
//! once for each dependent that takes it, once per `output(&handle)`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An output that counts its clones, and panics in `clone()` if told to.
#[derive(Debug)]
pub struct Counted {
    /// The clones made so far.
    pub clones: Arc<AtomicUsize>,
    /// `clone()` panics.
    pub panics: bool,
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        assert!(!self.panics, "this output must not be cloned");
        Counted {
            clones: self.clones.clone(),
            panics: false,
        }
    }
}

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_output_clones {
    ($harness:expr, $new:ident, $mode:ident) => {
        use $crate::suite::output_clones::Counted;

        $crate::__suite_tests! { ($harness, $mode)
            /// A leaf whose output panics when cloned succeeds (nothing needs a clone of it), and an output
            /// taken by three dependents (one parent, a tuple, a `Vec`) and waited for by a fourth
            /// (ordering only) is cloned exactly three times, then once more by `output(&handle)`.
            fn outputs_are_cloned_once_per_dependent_and_never_for_the_step_itself(h) {
                let mut job = JobBuilder::<Arc<AtomicUsize>>::$new("clones");
                let leaf = build(job.step("leaf").run(|clones| async move {
                    Res::Ok(Counted {
                        clones,
                        panics: true,
                    })
                }));
                let source = build(job.step("source").run(|clones| async move {
                    Res::Ok(Counted {
                        clones,
                        panics: false,
                    })
                }));
                let other = build(job.step("other").run(|_| async { Res::Ok(1u8) }));
                build(
                    job.step("one parent")
                        .after(&source)
                        .run(|_, _: Counted| async { Res::Ok(()) }),
                );
                build(
                    job.step("tuple")
                        .after((&source, &other))
                        .run(|_, _: (Counted, u8)| async { Res::Ok(()) }),
                );
                build(
                    job.step("vec")
                        .after(&vec![source.clone()])
                        .run(|_, _: Vec<Counted>| async { Res::Ok(()) }),
                );
                build(
                    job.step("ordering only")
                        .wait_for(&source)
                        .run(|_| async { Res::Ok(()) }),
                );
                let job = job.seal();

                let leaf_clones = Arc::new(AtomicUsize::new(0));
                let clones = Arc::new(AtomicUsize::new(0));
                let mut job_for_leaf = JobBuilder::<Arc<AtomicUsize>>::$new("leaf only");
                let lone = build(job_for_leaf.step("leaf").run(|clones| async move {
                    Res::Ok(Counted {
                        clones,
                        panics: true,
                    })
                }));
                let job_for_leaf = job_for_leaf.seal();
                let instance = h.start(&job_for_leaf, leaf_clones.clone(), JobOptions::new());
                let outcome = h.block_on(instance.wait());
                let state = instance.step(&lone).map(|s| (s.state, s.error));
                assert!(
                    outcome.is_ok() && leaf_clones.load(Ordering::SeqCst) == 0,
                    "on {}: a leaf whose output's Clone panics: wait() returned {outcome:?}, the leaf \
                     ended {state:?}, its output was cloned {} times (expected Ok, Succeeded, 0)",
                    h.name(),
                    leaf_clones.load(Ordering::SeqCst)
                );

                let instance = h.start(&job, clones.clone(), JobOptions::new());
                let outcome = h.block_on(instance.wait());
                let leaf_state = instance.step(&leaf).map(|s| s.state);
                assert!(
                    outcome.is_ok() && leaf_state == Some(StepState::Succeeded),
                    "on {}: wait() returned {outcome:?}, the leaf ended {leaf_state:?}",
                    h.name()
                );
                assert_eq!(
                    clones.load(Ordering::SeqCst),
                    3,
                    "on {}: an output taken by three dependents is cloned three times, not for the step's \
                     own completion",
                    h.name()
                );
                assert!(instance.output(&source).is_some());
                assert_eq!(
                    clones.load(Ordering::SeqCst),
                    4,
                    "on {}: output(&handle) clones once",
                    h.name()
                );
            }
        }
    };
}
