//! The job from go-asyncjob's README: connect and check authorisation in parallel, open two
//! table clients, query both tables (each after the auth check), summarise, notify.
//!
//! The "SQL library" is a fake that sleeps a few milliseconds per call on whatever timer it is
//! given, so the same definition runs unchanged on every runtime.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use asyncjob::retry::Retry;
use asyncjob::{DefinitionError, JobBuilder, JobWithResult, Timer};

/// The errors of the fake SQL library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlError {
    /// The server did not answer.
    Unavailable(String),
    /// The caller may not read the tables.
    Unauthorized,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlError::Unavailable(what) => write!(f, "{what} is unavailable"),
            SqlError::Unauthorized => f.write_str("not authorised"),
        }
    }
}

impl std::error::Error for SqlError {}

/// A connection to the fake server.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The server's name.
    pub server: String,
}

/// A client for one table.
#[derive(Debug, Clone)]
pub struct TableClient {
    /// The table's name.
    pub table: String,
}

/// The rows a query returned.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The table queried.
    pub table: String,
    /// The rows, as numbers.
    pub rows: Vec<u64>,
}

/// The job's typed result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows read from both tables.
    pub rows: usize,
    /// Their sum.
    pub total: u64,
}

/// The fake SQL library: the job input. It sleeps on the timer it is given.
pub struct SqlLib {
    timer: Arc<dyn Timer + Send + Sync>,
    latency: Duration,
    /// How many connection attempts fail before one succeeds.
    failing_connections: AtomicU32,
    emails: AtomicU32,
}

impl fmt::Debug for SqlLib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlLib")
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl SqlLib {
    /// A library whose calls take about `latency` each, on `timer`.
    pub fn new(timer: impl Timer + Send + Sync + 'static, latency: Duration) -> Self {
        SqlLib {
            timer: Arc::new(timer),
            latency,
            failing_connections: AtomicU32::new(0),
            emails: AtomicU32::new(0),
        }
    }

    /// Makes the next `n` connection attempts fail.
    pub fn fail_connections(self, n: u32) -> Self {
        self.failing_connections.store(n, Ordering::SeqCst);
        self
    }

    /// How many notification emails were sent.
    pub fn emails_sent(&self) -> u32 {
        self.emails.load(Ordering::SeqCst)
    }

    async fn work(&self, factor: u32) {
        self.timer.sleep(self.latency * factor).await;
    }

    /// Connects to the server.
    pub async fn connect(&self) -> Result<Connection, SqlError> {
        self.work(2).await;
        let failing = self.failing_connections.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing_connections
                .store(failing - 1, Ordering::SeqCst);
            return Err(SqlError::Unavailable("the SQL server".into()));
        }
        Ok(Connection {
            server: "sql.example".into(),
        })
    }

    /// Checks that the caller may read the tables.
    pub async fn check_auth(&self) -> Result<(), SqlError> {
        self.work(1).await;
        Ok(())
    }

    /// Opens a client for `table`.
    pub async fn table_client(
        &self,
        conn: &Connection,
        table: &str,
    ) -> Result<TableClient, SqlError> {
        self.work(1).await;
        Ok(TableClient {
            table: format!("{}/{table}", conn.server),
        })
    }

    /// Runs a query on a table.
    pub async fn query(&self, client: &TableClient, seed: u64) -> Result<QueryResult, SqlError> {
        self.work(3).await;
        Ok(QueryResult {
            table: client.table.clone(),
            rows: (1..=10).map(|i| i * seed).collect(),
        })
    }

    /// Summarises two query results.
    pub async fn summarize(&self, a: &QueryResult, b: &QueryResult) -> Result<Summary, SqlError> {
        self.work(1).await;
        Ok(Summary {
            rows: a.rows.len() + b.rows.len(),
            total: a.rows.iter().chain(&b.rows).sum(),
        })
    }

    /// Sends the notification email.
    pub async fn email(&self) -> Result<(), SqlError> {
        self.work(1).await;
        self.emails.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Builds the SQL summary job.
///
/// # Errors
///
/// A [`DefinitionError`] if the job is malformed (it is not).
pub fn build() -> Result<JobWithResult<Arc<SqlLib>, Summary>, DefinitionError> {
    let mut job = JobBuilder::<Arc<SqlLib>>::new("sqlSummaryJob");
    // Connecting may fail for a while: retry with exponential back-off.
    let conn = job
        .step("GetConnection")
        .retry(Retry::exponential(4, Duration::from_millis(2)).max_delay(Duration::from_millis(20)))
        .run(|lib| async move { lib.connect().await })?;
    let auth = job
        .step("CheckAuth")
        .run(|lib| async move { lib.check_auth().await })?;
    let t1 = job
        .step("GetTableClient1")
        .after(&conn)
        .run(|lib, conn| async move { lib.table_client(&conn, "table1").await })?;
    let t2 = job
        .step("GetTableClient2")
        .after(&conn)
        .run(|lib, conn| async move { lib.table_client(&conn, "table2").await })?;
    // A query that hangs is abandoned after a second, and tried once more.
    let q1 = job
        .step("QueryTable1")
        .after(&t1)
        .wait_for(&auth)
        .timeout(Duration::from_secs(1))
        .retry(Retry::fixed(2, Duration::ZERO))
        .run(|lib, client| async move { lib.query(&client, 1).await })?;
    let q2 = job
        .step("QueryTable2")
        .after(&t2)
        .wait_for(&auth)
        .timeout(Duration::from_secs(1))
        .retry(Retry::fixed(2, Duration::ZERO))
        .run(|lib, client| async move { lib.query(&client, 2).await })?;
    let summary = job
        .step("Summarize")
        .after((&q1, &q2))
        .run(|lib, (r1, r2)| async move { lib.summarize(&r1, &r2).await })?;
    job.step("EmailNotification")
        .wait_for(&summary)
        .run(|lib| async move { lib.email().await })?;
    job.seal().with_result(&summary)
}

/// The job, built once for the whole process.
pub static SQL_SUMMARY: LazyLock<JobWithResult<Arc<SqlLib>, Summary>> =
    LazyLock::new(|| build().expect("the SQL summary job is well formed"));
