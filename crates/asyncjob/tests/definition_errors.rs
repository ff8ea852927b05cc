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
    let mut job = JobBuilder::<std::rc::Rc<u8>>::new_local("local");
    job.step("a")
        .run(|rc| async move { Res::Ok(rc) })
        .expect("ok");
    let local = job.seal();
    check(&local); // a local definition can live in a static too
    let send = JobBuilder::<u8>::new("send").seal();
    check(&send);
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
    let c = job.step("c").expect("c exists");
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
    assert_eq!(job.step("a").map(|a| a.dependents().count()), Some(1));
    assert!(job.step("nope").is_none());
}
