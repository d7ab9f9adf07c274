//! Checkpoints on a thread of their own. A checkpoint copies the pages
//! that batches wrote to the WAL into the database file, and syncs it:
//! left to the writer (SQLite's automatic checkpoint), it stalls ingest for
//! as long. Here the writer only wakes this thread when the WAL has grown.
//!
//! The thread's checkpoints wait for nobody, so while batches keep coming
//! the WAL may never be wholly copied at the moment a new transaction
//! starts, which is when SQLite starts the WAL over. Past a larger bound
//! the writer therefore checkpoints itself, waiting for the thread's pass
//! and for readers, so that the next transaction does start it over: the
//! WAL stays bounded whatever happens to the thread.

use std::os::raw::c_int;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;

use crate::store::StoreError;

/// WAL pages (4 KiB each) after which a checkpoint starts: at 64 MB rather
/// than SQLite's 4 MB, as a checkpoint copies every page the batches since
/// the last one touched, and the random index pages are touched again and
/// again between them.
const CHECKPOINT_PAGES: c_int = if cfg!(test) { 64 } else { 16_384 };

/// WAL pages after which the writer checkpoints itself.
const BEHIND_PAGES: c_int = 4 * CHECKPOINT_PAGES;

/// How long the writer's own checkpoint waits for readers.
const READERS_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
enum Wake {
    Checkpoint,
    Stop,
}

/// The checkpoint thread of one database file; stopped when dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    wake: SyncSender<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread for the database at `path`, and makes `writer`
    /// (the one connection that writes) wake it after its commits.
    pub(super) fn start(path: &Path, writer: &mut Connection) -> Result<Checkpointer, StoreError> {
        let connection = Connection::open(path)?;
        // One pending wake is enough: a checkpoint copies every page there
        // is when it starts.
        let (wake, wakes) = sync_channel(1);
        // One checkpoint at a time: the writer's waits for the thread's.
        let turn = Arc::new(Mutex::new(()));
        let thread_turn = turn.clone();
        let thread = std::thread::Builder::new()
            .name("dapple-sqlite-checkpoint".into())
            .spawn(move || run(&connection, &wakes, &thread_turn))
            .map_err(|source| StoreError::Thread("checkpoint", source))?;
        writer.busy_timeout(READERS_WAIT)?;
        let writer_wake = wake.clone();
        // Replaces SQLite's automatic checkpoint, which uses the same hook.
        // Whatever a checkpoint's outcome, the commit stands: an error from
        // the hook would make it look failed.
        writer.wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
            if pages >= BEHIND_PAGES {
                let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
                let _ = wal.checkpoint_v2(CheckpointMode::RESTART);
            } else if pages >= CHECKPOINT_PAGES {
                // Full: a wake is already pending.
                if let Err(TrySendError::Disconnected(_)) = writer_wake.try_send(Wake::Checkpoint) {
                    let _ = wal.checkpoint();
                }
            }
            Ok(())
        }))?;
        Ok(Checkpointer {
            wake,
            thread: Some(thread),
        })
    }
}

/// Checkpoints once per wake until told to stop. PASSIVE: it copies what
/// no reader still needs, waiting for neither readers nor the writer.
fn run(connection: &Connection, wakes: &Receiver<Wake>, turn: &Mutex<()>) {
    while let Ok(Wake::Checkpoint) = wakes.recv() {
        let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
        // A failed checkpoint leaves the pages in the WAL for the next one,
        // or for the writer's.
        let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Waits for a pending wake to be taken, so the stop is seen.
        let _ = self.wake.send(Wake::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
