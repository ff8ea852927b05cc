//! Panic payloads: what a caught panic says, and how to let go of one safely.

use std::any::Any;
use std::panic::AssertUnwindSafe;

/// The message of a panic payload (a `String` or `&str`; a placeholder for anything else).
pub(crate) fn describe(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// The message of a panic payload, which is then dropped. A payload whose destructor panics
/// in turn is contained: that second payload is leaked rather than dropped, so nothing
/// unwinds out of here.
pub(crate) fn into_message(payload: Box<dyn Any + Send>) -> String {
    let message = describe(&*payload);
    drop_quietly(payload);
    message
}

/// Drops `payload`, containing a panic of its destructor (see [`into_message`]).
pub(crate) fn drop_quietly(payload: Box<dyn Any + Send>) {
    if let Err(again) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}
