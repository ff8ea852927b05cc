//! The graph layer: what the steps and edges of a job are. [`builder`] makes a definition one
//! step at a time and checks each; [`handle`] names a step's typed output; [`parents`] types the edges; [`extras`] types a step's condition and fallback; [`definition`] is the sealed
//! result. Its plain shape, which every layer above reads, is
//! [`crate::topology`].

pub(crate) mod builder;
pub(crate) mod definition;
pub(crate) mod extras;
pub(crate) mod handle;
pub(crate) mod map;
pub(crate) mod parents;
pub(crate) mod sub_job;
mod try_run;
