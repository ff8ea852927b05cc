//! The whole behaviour suite on a local executor that polls every future once inside
//! `spawn_local()`, before handing it to a `futures` `LocalPool` (`asyncjob_test::PollInSpawn`
//! as an `asyncjob::LocalExecutor`).

use asyncjob_conformance::LocalPoolHarness;
use asyncjob_test::PollInSpawn;

asyncjob_conformance::suite!(LocalPoolHarness::new(
    "PollInSpawn over a futures LocalPool",
    PollInSpawn::new
));
