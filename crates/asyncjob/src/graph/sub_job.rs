//! Sub-jobs: a sealed definition used as steps of another ([`StepBuilder::job`]).
//!
//! A sub-job is not run as a separate instance: its steps become steps of the definition that
//! uses it, named `step/sub-step`, after an entry step (`step`) that makes the sub-job's input
//! from the job input and the entry's parents. So each of them is tracked, drawn, cancelled,
//! limited and observed like any other step of the run, and the handle returned is that of
//! the sub-job's result step.

use std::convert::Infallible;
use std::future::{Ready, ready};

use crate::error::DefinitionError;
use crate::mode::{Local, Sendable};

use super::builder::{NoParents, StepBuilder, StepHandle, StepNode};
use super::definition::JobWithResult;
use super::extras::{Condition, NoFallback};
use super::parents::{Parents, SendParents};

/// The entry step's function: the sub-job's input, made at once.
fn entry<I, A, I2>(input: impl Fn(I, A) -> I2) -> impl Fn(I, A) -> Ready<Result<I2, Infallible>> {
    move |job_input, parents| ready(Ok(input(job_input, parents)))
}

impl<'a, I, C> StepBuilder<'a, I, Sendable, NoParents, C, NoFallback>
where
    I: Clone + Send + Sync + 'static,
    C: Condition<I, ()>,
{
    /// Adds the sealed definition `sub` as a sub-job: its steps become steps of this job,
    /// named `name/step`, and run on the sub-job's input, which `input` makes from the job
    /// input. Returns the handle of `sub`'s result step (named `name/result`), whose output
    /// the dependents of the sub-job take.
    ///
    /// The step named `name` (the sub-job's entry) runs `input` once its dependencies have
    /// succeeded; every step of the sub-job depends on it. Each step of the sub-job keeps its
    /// dependencies, policies (retry, timeout, its own interceptors), condition, fallback,
    /// limits and priority; the settings of the sub-job's definition as a whole (its
    /// interceptors, [`fail_fast`](crate::JobBuilder::fail_fast),
    /// [`max_running`](crate::JobBuilder::max_running)) give way to this job's, which apply to
    /// its steps as to any other. So does a cancellation, either way: cancelling this job
    /// cancels the sub-job's steps, and a failure among them fails this job (and, fail-fast,
    /// cancels the rest) as any step's failure does. As for a standalone instance's
    /// [`result`](crate::JobInstanceWithResult::result), the sub-job's dependents wait for its
    /// result step only, not for its other branches.
    ///
    /// A [condition](Self::when) on the entry makes the whole sub-job conditional: if it does
    /// not hold, the sub-job's steps are omitted too.
    ///
    /// ```
    /// use asyncjob::JobBuilder;
    /// # fn main() -> Result<(), asyncjob::DefinitionError> {
    /// // A job of its own: count the words of a text.
    /// let mut words = JobBuilder::<String>::new("words");
    /// let split = words.step("split").try_run(|text| async move {
    ///     Ok(text.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    /// })?;
    /// let count = words.step("count").after(&split).try_run(|_, words| async move { Ok(words.len()) })?;
    /// let words = words.seal().with_result(&count)?;
    ///
    /// // Used twice in another.
    /// let mut job = JobBuilder::<(String, String)>::new("compare");
    /// let left = job.step("left").job(&words, |(left, _)| left)?;
    /// let right = job.step("right").job(&words, |(_, right)| right)?;
    /// let more = job.step("more").after((&left, &right)).try_run(|_, (l, r)| async move { Ok(l > r) })?;
    /// assert_eq!(left.name(), "left/count");
    /// let job = job.seal();
    /// let names: Vec<&str> = job.step_names().collect();
    /// assert_eq!(names, ["left", "left/split", "left/count", "right", "right/split", "right/count", "more"]);
    /// # let _ = more;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`DefinitionError`] naming the step if its name is blank or taken, if a sub-job's
    /// step's name (`name/step`) is taken, if a [`wait_for`](Self::wait_for) dependency belongs
    /// to another definition or is repeated, or
    /// ([`SubJobOption`](crate::DefinitionErrorKind::SubJobOption)) if this builder was given a
    /// retry policy, timeout, interceptor, limit or priority.
    pub fn job<I2, O2, G>(
        self,
        sub: &JobWithResult<I2, O2, Sendable>,
        input: G,
    ) -> Result<StepHandle<O2>, DefinitionError>
    where
        G: Fn(I) -> I2 + Send + Sync + 'static,
        I2: Clone + Send + Sync + 'static,
        O2: Clone + 'static,
    {
        let function = entry(move |job_input: I, (): ()| input(job_input));
        self.without_parents().finish_sub_job(
            sub,
            |parents, options, condition, fallback| {
                Box::new(StepNode::new(
                    parents, function, options, condition, fallback,
                ))
            },
            |step| Box::new(step),
        )
    }
}

impl<'a, I, P, C> StepBuilder<'a, I, Sendable, P, C, NoFallback>
where
    I: Clone + Send + Sync + 'static,
    P: SendParents,
    C: Condition<I, P::Output>,
{
    /// Adds the sealed definition `sub` as a sub-job whose input `input` makes from the job
    /// input and the outputs of this step's parents (see [`after`](Self::after)). Otherwise
    /// as the `job` of a step without parents (above).
    ///
    /// # Errors
    ///
    /// As the `job` of a step without parents, and if a dependency belongs to another
    /// definition or is given twice.
    pub fn job<I2, O2, G>(
        self,
        sub: &JobWithResult<I2, O2, Sendable>,
        input: G,
    ) -> Result<StepHandle<O2>, DefinitionError>
    where
        G: Fn(I, P::Output) -> I2 + Send + Sync + 'static,
        I2: Clone + Send + Sync + 'static,
        O2: Clone + 'static,
    {
        let function = entry(input);
        self.finish_sub_job(
            sub,
            |parents, options, condition, fallback| {
                Box::new(StepNode::new(
                    parents, function, options, condition, fallback,
                ))
            },
            |step| Box::new(step),
        )
    }
}

impl<'a, I, C> StepBuilder<'a, I, Local, NoParents, C, NoFallback>
where
    I: Clone + 'static,
    C: Condition<I, ()>,
{
    /// As the [`Sendable`] mode's `job`, for a [local](Local) definition and sub-job (whose
    /// steps, and `input`, need not be `Send`).
    ///
    /// # Errors
    ///
    /// As for the [`Sendable`] mode's `job`.
    pub fn job<I2, O2, G>(
        self,
        sub: &JobWithResult<I2, O2, Local>,
        input: G,
    ) -> Result<StepHandle<O2>, DefinitionError>
    where
        G: Fn(I) -> I2 + 'static,
        I2: Clone + 'static,
        O2: Clone + 'static,
    {
        let function = entry(move |job_input: I, (): ()| input(job_input));
        self.without_parents().finish_sub_job(
            sub,
            |parents, options, condition, fallback| {
                Box::new(StepNode::new(
                    parents, function, options, condition, fallback,
                ))
            },
            |step| Box::new(step),
        )
    }
}

impl<'a, I, P, C> StepBuilder<'a, I, Local, P, C, NoFallback>
where
    I: Clone + 'static,
    P: Parents<Local>,
    C: Condition<I, P::Output>,
{
    /// As the [`Sendable`] mode's `job` after parents, for a [local](Local) definition and
    /// sub-job.
    ///
    /// # Errors
    ///
    /// As for the [`Sendable`] mode's `job`.
    pub fn job<I2, O2, G>(
        self,
        sub: &JobWithResult<I2, O2, Local>,
        input: G,
    ) -> Result<StepHandle<O2>, DefinitionError>
    where
        G: Fn(I, P::Output) -> I2 + 'static,
        I2: Clone + 'static,
        O2: Clone + 'static,
    {
        let function = entry(input);
        self.finish_sub_job(
            sub,
            |parents, options, condition, fallback| {
                Box::new(StepNode::new(
                    parents, function, options, condition, fallback,
                ))
            },
            |step| Box::new(step),
        )
    }
}
