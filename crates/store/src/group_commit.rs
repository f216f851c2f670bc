//! Group commit for the writes every exchange makes (replay marker, refresh token, audit
//! record). SQLite has one writer; committing each of these on its own makes the writer, not
//! the CPU, the limit. A single task takes whatever writes are queued, runs them in one
//! `BEGIN IMMEDIATE` transaction and answers each caller only after the commit, so a caller
//! never acts on a write that could still be lost.

use crate::records::backend;
use crate::statements::Statements;
use sqlx::{Sqlite, SqlitePool};
use tokenbridge_core::model::{AuditRecord, RefreshTokenRecord};
use tokenbridge_core::store::{StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

/// Upper bound on writes per transaction, so one commit never holds the lock for long.
const MAX_BATCH: usize = 256;
/// Queued writes beyond this make callers wait (back-pressure instead of unbounded memory).
const QUEUE: usize = 8192;

enum Write {
    Replay { hash: String, expires_at: i64, now: i64, reply: oneshot::Sender<StoreResult<bool>> },
    Refresh { record: RefreshTokenRecord, reply: oneshot::Sender<StoreResult<()>> },
    Audit { record: AuditRecord, reply: oneshot::Sender<StoreResult<()>> },
}

enum Done {
    Replay(StoreResult<bool>),
    Unit(StoreResult<()>),
}

#[derive(Clone, Debug)]
pub(crate) struct GroupCommit {
    tx: mpsc::Sender<Write>,
}

fn stopped() -> StoreError {
    StoreError::Backend("the SQLite writer has stopped".into())
}

impl GroupCommit {
    pub(crate) fn spawn(writer: SqlitePool) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, rx));
        Self { tx }
    }

    async fn submit<T>(&self, make: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> Write) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    pub(crate) async fn replay_marker(&self, hash: String, expires_at: i64, now: i64) -> StoreResult<bool> {
        self.submit(|reply| Write::Replay { hash, expires_at, now, reply }).await
    }

    pub(crate) async fn refresh_token(&self, record: RefreshTokenRecord) -> StoreResult<()> {
        self.submit(|reply| Write::Refresh { record, reply }).await
    }

    pub(crate) async fn audit(&self, record: AuditRecord) -> StoreResult<()> {
        self.submit(|reply| Write::Audit { record, reply }).await
    }
}

async fn run(writer: SqlitePool, mut rx: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match commit(&writer, &batch).await {
            Ok(done) => batch.drain(..).zip(done).for_each(|(w, d)| w.answer(d)),
            Err(e) => batch.drain(..).for_each(|w| w.fail(&e)),
        }
    }
}

impl Write {
    fn answer(self, done: Done) {
        match (self, done) {
            (Write::Replay { reply, .. }, Done::Replay(r)) => drop(reply.send(r)),
            (Write::Refresh { reply, .. } | Write::Audit { reply, .. }, Done::Unit(r)) => drop(reply.send(r)),
            _ => unreachable!("each write gets the outcome of its own kind"),
        }
    }

    fn fail(self, e: &StoreError) {
        let err = || StoreError::Backend(format!("batch commit failed: {e}"));
        match self {
            Write::Replay { reply, .. } => drop(reply.send(Err(err()))),
            Write::Refresh { reply, .. } | Write::Audit { reply, .. } => drop(reply.send(Err(err()))),
        }
    }
}

/// Runs every write of the batch in one transaction. A failing statement fails only its own
/// caller (SQLite rolls back the statement, not the transaction); a failed commit fails all.
async fn commit(writer: &SqlitePool, batch: &[Write]) -> Result<Vec<Done>, StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
    let mut done = Vec::with_capacity(batch.len());
    for w in batch {
        done.push(match w {
            Write::Replay { hash, expires_at, now, .. } => {
                Done::Replay(Statements::<Sqlite>::insert_replay(&mut *tx, hash, *expires_at, *now).await)
            }
            Write::Refresh { record, .. } => Done::Unit(Statements::<Sqlite>::insert_refresh(&mut *tx, record).await),
            Write::Audit { record, .. } => Done::Unit(Statements::<Sqlite>::insert_audit(&mut *tx, record).await),
        });
    }
    tx.commit().await.map_err(backend)?;
    Ok(done)
}
