//! The model-based test: random DAGs end exactly as a reference model says (the model, the
//! checks and the shrinking are in `src/model.rs`).

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_model {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// Random DAGs match the reference model: see
            /// [`random_dags_match_the_model`](crate::random_dags_match_the_model).
            fn random_dags_match_the_model(h) {
                $crate::random_dags_match_the_model(h);
            }
        }
    };
}
