//! Every way to get a definition wrong gives a typed error naming the step, never a panic.

use asyncjob::{DefinitionErrorKind, JobBuilder};

type Res<T> = Result<T, std::convert::Infallible>;

#[test]
fn duplicate_name() {
    let mut job = JobBuilder::<()>::new("job");
    job.step("a")
        .run(|()| async { Res::Ok(1) })
        .expect("first a");
    let error = job
        .step("a")
        .run(|()| async { Res::Ok(2) })
        .expect_err("second a");
    assert_eq!(error.kind(), DefinitionErrorKind::DuplicateName);
    assert_eq!(error.step(), "a");
    assert_eq!(error.job(), "job");
    assert_eq!(
        error.to_string(),
        "job \"job\": a step named \"a\" already exists"
    );
    assert_eq!(job.len(), 1, "the failed step was not added");
}

#[test]
fn empty_and_blank_names() {
    let mut job = JobBuilder::<()>::new("job");
    for name in ["", " ", "\t\n"] {
        let error = job
            .step(name)
            .run(|()| async { Res::Ok(()) })
            .expect_err("invalid");
        assert_eq!(error.kind(), DefinitionErrorKind::InvalidName);
        assert_eq!(error.step(), name);
    }
    assert!(job.is_empty());
}

#[test]
fn odd_characters_are_fine() {
    let mut job = JobBuilder::<()>::new("job");
    for name in [
        "a\"b",
        "back\\slash",
        "new\nline",
        "<{}>",
        "ünïcødé ✓",
        &"x".repeat(10_000),
    ] {
        job.step(name)
            .run(|()| async { Res::Ok(()) })
            .expect("any non-blank name is valid");
    }
    assert_eq!(job.len(), 6);
}

#[test]
fn handle_from_another_definition() {
    let mut other = JobBuilder::<()>::new("other");
    let foreign = other
        .step("foreign")
        .run(|()| async { Res::Ok(1u8) })
        .expect("ok");

    let mut job = JobBuilder::<()>::new("job");
    let error = job
        .step("b")
        .after(&foreign)
        .run(|(), _| async { Res::Ok(()) })
        .expect_err("foreign parent");
    assert_eq!(error.kind(), DefinitionErrorKind::ForeignHandle);
    assert_eq!(error.step(), "b");
    assert_eq!(error.dependency(), Some("foreign"));

    let error = job
        .step("c")
        .wait_for(&foreign)
        .run(|()| async { Res::Ok(()) })
        .expect_err("foreign ordering dependency");
    assert_eq!(error.kind(), DefinitionErrorKind::ForeignHandle);
    assert_eq!(error.dependency(), Some("foreign"));

    let own = job
        .step("own")
        .run(|()| async { Res::Ok(2u8) })
        .expect("ok");
    let error = job
        .step("d")
        .after(vec![own, foreign])
        .run(|(), _| async { Res::Ok(()) })
        .expect_err("a foreign handle in a Vec");
    assert_eq!(error.kind(), DefinitionErrorKind::ForeignHandle);
    assert_eq!(job.len(), 1);
}

#[test]
fn same_dependency_twice() {
    let mut job = JobBuilder::<()>::new("job");
    let a = job.step("a").run(|()| async { Res::Ok(1u8) }).expect("ok");
    let error = job
        .step("b")
        .after((&a, &a))
        .run(|(), _| async { Res::Ok(()) })
        .expect_err("a twice");
    assert_eq!(error.kind(), DefinitionErrorKind::DuplicateDependency);
    assert_eq!((error.step(), error.dependency()), ("b", Some("a")));

    let error = job
        .step("c")
        .after(&a)
        .wait_for(&a)
        .run(|(), _| async { Res::Ok(()) })
        .expect_err("a as data and ordering dependency");
    assert_eq!(error.kind(), DefinitionErrorKind::DuplicateDependency);

    let error = job
        .step("d")
        .after(vec![a.clone(), a.clone()])
        .run(|(), _| async { Res::Ok(()) })
        .expect_err("a twice in a Vec");
    assert_eq!(error.kind(), DefinitionErrorKind::DuplicateDependency);
}

#[test]
fn result_step_from_another_definition() {
    let mut other = JobBuilder::<()>::new("other");
    let foreign = other
        .step("foreign")
        .run(|()| async { Res::Ok(1u8) })
        .expect("ok");
    let mut job = JobBuilder::<()>::new("job");
    job.step("a").run(|()| async { Res::Ok(()) }).expect("ok");
    let error = job
        .seal()
        .with_result(&foreign)
        .expect_err("foreign result");
    assert_eq!(error.kind(), DefinitionErrorKind::ForeignResultStep);
    assert_eq!(error.step(), "foreign");
    assert_eq!(error.job(), "job");
}

#[test]
fn definitions_are_send_sync_and_static() {
    fn check<T: Send + Sync + 'static>(_: &T) {}
    let mut job = JobBuilder::<u8>::new("send");
    job.step("a")
        .run(|n| async move { Res::Ok(n) })
        .expect("ok");
    let send = job.seal();
    check(&send); // a definition of `Send` steps can live in a static
    // A local one holds step functions that may capture `Rc`s (asyncjob-local's tests run one).
    fn check_static<T: 'static>(_: &T) {}
    let mut job = JobBuilder::<std::rc::Rc<u8>>::new_local("local");
    let captured = std::rc::Rc::new(1u8);
    job.step("a")
        .run(move |rc| {
            let captured = captured.clone();
            async move { Res::Ok(*rc + *captured) }
        })
        .expect("ok");
    check_static(&job.seal());
}

#[test]
fn sealed_definition_describes_its_steps() {
    let mut job = JobBuilder::<()>::new("job");
    let a = job.step("a").run(|()| async { Res::Ok(1u8) }).expect("ok");
    let b = job.step("b").run(|()| async { Res::Ok(2u8) }).expect("ok");
    job.step("c")
        .after(&a)
        .wait_for(&b)
        .run(|(), _| async { Res::Ok(()) })
        .expect("ok");
    let job = job.seal();
    assert_eq!(job.step_names().collect::<Vec<_>>(), ["a", "b", "c"]);
    let c = job.step_by_name("c").expect("c exists");
    assert_eq!(
        c.data_dependencies().map(|s| s.name()).collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(
        c.ordering_dependencies()
            .map(|s| s.name())
            .collect::<Vec<_>>(),
        ["b"]
    );
    assert_eq!(
        job.step_by_name("a").map(|a| a.dependents().count()),
        Some(1)
    );
    assert!(job.step_by_name("nope").is_none());
}

#[test]
fn unicode_blank_names_are_invalid_and_invisible_ones_are_not() {
    let mut job = JobBuilder::<()>::new("job");
    // White space by Unicode's definition (what `str::trim` removes): blank.
    for name in ["\u{a0}", "\u{3000}\u{2028}", "\r\n\u{85}\u{2029}"] {
        let error = job
            .step(name)
            .run(|()| async { Res::Ok(()) })
            .expect_err("blank");
        assert_eq!(error.kind(), DefinitionErrorKind::InvalidName, "{name:?}");
    }
    // Not white space, though invisible or unprintable: valid (the pictures show them as a
    // fallback or an escape).
    for name in ["\u{200B}", "\0", "\u{FEFF}", "\u{301}"] {
        job.step(name)
            .run(|()| async { Res::Ok(()) })
            .expect("a valid name");
    }
    assert_eq!(job.len(), 4);
}

#[test]
fn same_ordering_dependency_twice() {
    let mut job = JobBuilder::<()>::new("job");
    let a = job.step("a").run(|()| async { Res::Ok(1u8) }).expect("ok");
    let error = job
        .step("b")
        .wait_for(&a)
        .wait_for(&a)
        .run(|()| async { Res::Ok(()) })
        .expect_err("a twice");
    assert_eq!(error.kind(), DefinitionErrorKind::DuplicateDependency);
    assert_eq!((error.step(), error.dependency()), ("b", Some("a")));
    let error = job
        .step("c")
        .wait_for((&a, &a))
        .run(|()| async { Res::Ok(()) })
        .expect_err("a twice in a tuple");
    assert_eq!(error.kind(), DefinitionErrorKind::DuplicateDependency);
    assert_eq!(job.len(), 1);
}

#[test]
fn local_definitions_report_the_same_errors() {
    let mut job = JobBuilder::<std::rc::Rc<u8>>::new_local("local");
    let a = job.step("a").run(|_| async { Res::Ok(1u8) }).expect("ok");
    let kinds = [
        job.step("a").run(|_| async { Res::Ok(()) }).map(drop),
        job.step(" ").run(|_| async { Res::Ok(()) }).map(drop),
        job.step("b")
            .after((&a, &a))
            .run(|_, _| async { Res::Ok(()) })
            .map(drop),
    ]
    .map(|result| result.expect_err("invalid").kind());
    assert_eq!(
        kinds,
        [
            DefinitionErrorKind::DuplicateName,
            DefinitionErrorKind::InvalidName,
            DefinitionErrorKind::DuplicateDependency
        ]
    );
}

/// Every kind of definition error names the job, the step and the dependency with `{:?}`:
/// one line, whatever the names.
#[test]
fn hostile_names_in_every_definition_error_message() {
    let hostile = "say \"hi\"\n\\ <&> %%{init}%% --> #;: \u{202E}rlo \u{0} 🚀 e\u{301}";
    let long = hostile.repeat(200);
    for name in [hostile, long.as_str()] {
        let mut other = JobBuilder::<()>::new(name);
        let foreign = other
            .step(name)
            .run(|()| async { Res::Ok(1u8) })
            .expect("ok");
        let mut job = JobBuilder::<()>::new(name);
        let own = job.step(name).run(|()| async { Res::Ok(2u8) }).expect("ok");
        let errors = [
            job.step(name).run(|()| async { Res::Ok(()) }).map(drop),
            job.step(format!("\n{name}\t"))
                .after(&foreign)
                .run(|(), _| async { Res::Ok(()) })
                .map(drop),
            job.step(format!("{name}!"))
                .after((&own, &own))
                .run(|(), _| async { Res::Ok(()) })
                .map(drop),
        ]
        .map(|result| result.expect_err("invalid"));
        let blank = job
            .step("\n\t ")
            .run(|()| async { Res::Ok(()) })
            .expect_err("blank");
        let result = job.seal().with_result(&foreign).expect_err("foreign");
        for error in errors.iter().chain([&blank, &result]) {
            let text = error.to_string();
            assert!(
                !text.chars().any(|c| c.is_control() || c == '\u{202E}'),
                "{:?}: {text:?}",
                error.kind()
            );
            assert!(text.contains(&format!("{:?}", error.job())));
            assert!(text.contains(&format!("{:?}", error.step())));
            if let Some(dependency) = error.dependency() {
                assert!(text.contains(&format!("{dependency:?}")));
            }
        }
    }
}

/// A map step and its items cannot need the same limit (its items would wait for the permit the
/// map holds): `run` says which, and the definition is unchanged.
#[test]
fn a_map_and_its_items_cannot_need_the_same_limit() {
    use asyncjob::Limit;

    let (db, api) = (Limit::new("db", 1), Limit::new("api", 2));
    let mut job = JobBuilder::<()>::new("j");
    let rows = job
        .step("rows")
        .run(|()| async { Res::Ok(vec![1, 2, 3]) })
        .expect("well formed");
    let error = job
        .step("each")
        .needs(&db)
        .map(&rows)
        .needs(&api)
        .needs(&db)
        .run(|(), n: i32| async move { Res::Ok(n) })
        .expect_err("db twice");
    assert_eq!(error.kind(), DefinitionErrorKind::LimitNeededTwice);
    assert_eq!(
        (error.step(), error.limit(), error.dependency()),
        ("each", Some("db"), None)
    );
    assert_eq!(
        error.to_string(),
        "job \"j\", map step \"each\": the map and its items both need the limit \"db\""
    );
    assert_eq!(job.len(), 1);
    // The map may hold one limit while its items need another.
    job.step("each")
        .needs(&db)
        .map(&rows)
        .needs(&api)
        .run(|(), n: i32| async move { Res::Ok(n) })
        .expect("well formed");
}

/// A sub-job whose steps' nested names are taken, or a sub-job step given options that would
/// apply to nothing: typed errors, and nothing is added.
#[test]
fn sub_job_mistakes() {
    let mut sub = JobBuilder::<u32>::new("sub");
    let x = sub.step("x").run(|n| async move { Res::Ok(n) }).expect("x");
    let sub = sub.seal().with_result(&x).expect("its own step");

    let mut job = JobBuilder::<u32>::new("job");
    job.step("sync/x")
        .run(|n| async move { Res::Ok(n) })
        .expect("a step whose name a sub-job's step would take");
    let error = job.step("sync").job(&sub, |n| n).expect_err("taken");
    assert_eq!(error.kind(), DefinitionErrorKind::DuplicateName);
    assert_eq!(error.step(), "sync/x");
    assert_eq!(
        job.len(),
        1,
        "neither the entry nor the sub-job's steps were added"
    );

    let error = job
        .step("sync")
        .retry(asyncjob::retry::Retry::fixed(2, std::time::Duration::ZERO))
        .job(&sub, |n| n)
        .expect_err("a retry policy would apply to nothing");
    assert_eq!(error.kind(), DefinitionErrorKind::SubJobOption);
    assert_eq!(error.step(), "sync");
    assert_eq!(
        error.to_string(),
        "job \"job\", sub-job step \"sync\": a retry policy, timeout, interceptor, limit or \
         priority applies to the sub-job's own steps, not to the step that adds it"
    );
    let limit = asyncjob::Limit::new("db", 1);
    let error = job
        .step("sync")
        .needs(&limit)
        .job(&sub, |n| n)
        .expect_err("a limit");
    assert_eq!(error.kind(), DefinitionErrorKind::SubJobOption);
    assert_eq!(job.len(), 1);

    let handle = job
        .step("other")
        .job(&sub, |n| n + 1)
        .expect("another prefix");
    assert_eq!(handle.name(), "other/x");
    assert_eq!(job.len(), 3);
}
