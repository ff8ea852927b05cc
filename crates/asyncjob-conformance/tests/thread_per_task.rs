//! The whole behaviour suite on an executor that runs every spawned future on a fresh OS
//! thread (`asyncjob_test::ThreadPerTask`): every step that is spawned runs truly in parallel
//! with the others, on a thread that exists for it alone.

use asyncjob_conformance::Spawning;
use asyncjob_test::ThreadPerTask;

asyncjob_conformance::suite!(Spawning::new("ThreadPerTask", ThreadPerTask::new()));
