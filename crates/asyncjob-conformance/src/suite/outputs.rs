//! Outputs: typed outputs reach their dependents for every arity, and the instance gives each
//! step's output through its handle.

/// The tests of this behaviour: expanded by [`suite!`](macro@crate::suite) once per definition mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_outputs {
    ($harness:expr, $new:ident, $mode:ident) => {
        $crate::__suite_tests! { ($harness, $mode)
            /// Outputs reach their dependents, typed, for one parent, tuples of 2 to 8 parents of
            /// different types, a `Vec` of parents, and none (a root step).
            fn typed_outputs_flow_for_every_arity(h) {
                let mut job = JobBuilder::<u8>::$new("arity");
                let a = build(job.step("u8").run(|n| async move { Res::Ok(n) }));
                let b = build(
                    job.step("u16")
                        .run(|n| async move { Res::Ok(u16::from(n) * 2) }),
                );
                let c = build(
                    job.step("u32")
                        .run(|n| async move { Res::Ok(u32::from(n) * 3) }),
                );
                let d = build(
                    job.step("u64")
                        .run(|n| async move { Res::Ok(u64::from(n) * 4) }),
                );
                let e = build(
                    job.step("string")
                        .run(|n| async move { Res::Ok(format!("s{n}")) }),
                );
                let f = build(job.step("bool").run(|n| async move { Res::Ok(n % 2 == 1) }));
                let g = build(job.step("char").run(|_| async move { Res::Ok('x') }));
                let hh = build(job.step("vec").run(|n| async move { Res::Ok(vec![n; 2]) }));

                let one = build(
                    job.step("one")
                        .after(&a)
                        .run(|_, a: u8| async move { Res::Ok(format!("{a}")) }),
                );
                let two = build(
                    job.step("two")
                        .after((&a, &b))
                        .run(|_, (a, b): (u8, u16)| async move { Res::Ok(format!("{a},{b}")) }),
                );
                let three = build(
                    job.step("three")
                        .after((&a, &b, &c))
                        .run(|_, (a, b, c): (u8, u16, u32)| async move { Res::Ok(format!("{a},{b},{c}")) }),
                );
                let four = build(job.step("four").after((&a, &b, &c, &d)).run(
                    |_, (a, b, c, d): (u8, u16, u32, u64)| async move { Res::Ok(format!("{a},{b},{c},{d}")) },
                ));
                let five = build(job.step("five").after((&a, &b, &c, &d, &e)).run(
                    |_, (a, b, c, d, e): (u8, u16, u32, u64, String)| async move {
                        Res::Ok(format!("{a},{b},{c},{d},{e}"))
                    },
                ));
                let six = build(job.step("six").after((&a, &b, &c, &d, &e, &f)).run(
                    |_, (a, b, c, d, e, f): (u8, u16, u32, u64, String, bool)| async move {
                        Res::Ok(format!("{a},{b},{c},{d},{e},{f}"))
                    },
                ));
                let seven = build(job.step("seven").after((&a, &b, &c, &d, &e, &f, &g)).run(
                    |_, (a, b, c, d, e, f, g): (u8, u16, u32, u64, String, bool, char)| async move {
                        Res::Ok(format!("{a},{b},{c},{d},{e},{f},{g}"))
                    },
                ));
                let eight = build(job.step("eight").after((&a, &b, &c, &d, &e, &f, &g, &hh)).run(
                    |_, (a, b, c, d, e, f, g, h): (u8, u16, u32, u64, String, bool, char, Vec<u8>)| async move {
                        Res::Ok(format!("{a},{b},{c},{d},{e},{f},{g},{h:?}"))
                    },
                ));
                let all = vec![one, two, three, four, five, six, seven, eight];
                let joined = build(
                    job.step("joined")
                        .after(&all)
                        .run(
                            |n, parts: Vec<String>| async move { Res::Ok(format!("{n}|{}", parts.join("|"))) },
                        ),
                );
                let job = build(job.seal().with_result(&joined));

                let instance = h.start_with_result(&job, 5, JobOptions::new());
                let result = h.block_on(instance.result()).expect("every step succeeds");
                assert_eq!(
                    result,
                    "5|5|5,10|5,10,15|5,10,15,20|5,10,15,20,s5|5,10,15,20,s5,true\
                     |5,10,15,20,s5,true,x|5,10,15,20,s5,true,x,[5, 5]",
                    "on {}",
                    h.name()
                );
            }

            /// Each step's output can be read from the instance through its typed handle.
            fn outputs_are_readable_per_step(h) {
                let mut job = JobBuilder::<String>::$new("outputs");
                let len = build(
                    job.step("len")
                        .run(|s: String| async move { Res::Ok(s.len()) }),
                );
                let upper = build(
                    job.step("upper")
                        .run(|s: String| async move { Res::Ok(s.to_uppercase()) }),
                );
                let job = job.seal();
                let instance = h.start(&job, "abc".to_owned(), JobOptions::new());
                h.block_on(instance.wait()).expect("succeeds");
                assert_eq!(instance.output(&len), Some(3), "on {}", h.name());
                assert_eq!(instance.output(&upper).as_deref(), Some("ABC"));

                // A handle of another definition gives nothing, rather than another step's output.
                let mut other = JobBuilder::<String>::$new("other");
                let foreign = build(
                    other
                        .step("len")
                        .run(|s: String| async move { Res::Ok(s.len()) }),
                );
                assert_eq!(instance.output(&foreign), None);
                assert!(instance.step(&foreign).is_none());
            }

            /// A root fans out to 500 steps whose outputs a sink takes as a `Vec`, in order.
            fn wide_fan_out_and_vec_fan_in(h) {
                let mut job = JobBuilder::<u64>::$new("fan");
                let root = build(job.step("root").run(|n| async move { Res::Ok(n) }));
                let leaves: Vec<_> = (0..500u64)
                    .map(|i| {
                        build(
                            job.step(format!("leaf {i}"))
                                .after(&root)
                                .run(move |_, n| async move { Res::Ok(n + i) }),
                        )
                    })
                    .collect();
                let sink = build(
                    job.step("sink")
                        .after(leaves.as_slice())
                        .run(|_, v: Vec<u64>| async move { Res::Ok(v) }),
                );
                let job = build(job.seal().with_result(&sink));
                let instance = h.start_with_result(&job, 1000, JobOptions::new());
                let out = h.block_on(instance.result()).expect("succeeds");
                assert_eq!(out, (1000..1500).collect::<Vec<_>>(), "on {}", h.name());
            }
        }
    };
}
