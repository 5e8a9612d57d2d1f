//! The threads of an export. Reading the store is about half of its CPU and encoding the
//! other half, more than one core can do at the rate wanted: two readers, each with its
//! own connection, share the work a ticker at a time (a "unit": one ticker in one
//! partition), and the caller's thread puts their rows back in file order, cuts them into
//! row groups and writes them (encoding each row group's columns on two threads).
//!
//! Order: a reader claims the next unit and, under the same lock, tells the writer which
//! reader has it; the writer takes units in that order, each from its reader's channel.
//! Memory: a reader sends chunks of at most [`CHUNK_ROWS`] rows over a channel that
//! holds [`CHUNKS_AHEAD`], so each reader has at most that many waiting, one filling and
//! one blocked in its send, and the writer one row group and one chunk, whatever the
//! database holds (about 50 MB in all at the default shape).

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use rusqlite::Connection;

use super::batch::Batch;
use super::layout::PartitionFiles;
use super::read::{self, PartitionPlan};
use super::{ExportError, Progress, Request, Summary};

/// Rows a reader sends at a time: 64 Ki rows are about 4.5 MB, and each column's part
/// (512 KiB) stays in the allocator's heap rather than a fresh mapping per chunk.
const CHUNK_ROWS: usize = 1 << 16;

/// Chunks a reader may have waiting for the writer: enough for the readers to fill the
/// next row group while the writer encodes one (2 readers x 3 chunks > 256 Ki rows).
const CHUNKS_AHEAD: usize = 2;

/// What a reader sends the writer.
enum Msg {
    Rows(Box<Batch>),
    /// The unit's last rows were sent.
    UnitEnd,
    Failed(rusqlite::Error),
}

/// The units in order.
struct Units<'a> {
    plans: &'a [PartitionPlan],
    /// The next unclaimed unit, as (partition, ticker) indices.
    next: Mutex<(usize, usize)>,
}

impl Units<'_> {
    /// The next unit, told to the writer on `claims` as taken by `reader` while no other
    /// reader can claim one, so the writer hears of them in order. `None` when all are
    /// taken or the writer has gone.
    fn claim(&self, reader: usize, claims: &Sender<usize>) -> Option<(usize, usize)> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let (p, t) = &mut *next;
        while *p < self.plans.len() && *t >= self.plans[*p].tickers.len() {
            (*p, *t) = (*p + 1, 0);
        }
        if *p == self.plans.len() || claims.send(reader).is_err() {
            return None;
        }
        let unit = (*p, *t);
        *t += 1;
        Some(unit)
    }
}

/// Reads and writes every partition of `plans`; `connections` are the readers'.
pub fn run(
    request: &Request,
    plans: &[PartitionPlan],
    connections: Vec<Connection>,
    progress: &dyn Progress,
) -> Result<Summary, ExportError> {
    let chunk_rows = CHUNK_ROWS.min(request.shape.row_group_rows).max(1);
    // Each reader holds a sender of the claims: when every reader has ended, even by a
    // panic, the writer's wait for the next claim ends too.
    let (claims_tx, claims_rx) = channel();
    let units = Units { plans, next: Mutex::new((0, 0)) };
    let read_error =
        |e: rusqlite::Error| ExportError::Read { db: request.db.clone(), message: super::store::explain(&e) };
    std::thread::scope(|scope| {
        let mut channels = Vec::new();
        let mut readers = Vec::new();
        for (id, conn) in connections.into_iter().enumerate() {
            let (tx, rx) = sync_channel(CHUNKS_AHEAD);
            channels.push(rx);
            let (units, claims) = (&units, claims_tx.clone());
            readers.push(scope.spawn(move || read_units(id, &conn, request, units, &claims, chunk_rows, &tx)));
        }
        drop(claims_tx);
        let written = write_units(request, plans, &claims_rx, &channels, progress).map_err(|e| match e {
            WriteStop::Export(e) => e,
            WriteStop::Sql(e) => read_error(e),
        });
        drop(channels);
        for reader in readers {
            if let Err(panic) = reader.join() {
                std::panic::resume_unwind(panic);
            }
        }
        written
    })
}

/// One reader: units until none is left or the writer has gone.
fn read_units(
    id: usize,
    conn: &Connection,
    request: &Request,
    units: &Units,
    claims: &Sender<usize>,
    chunk_rows: usize,
    tx: &SyncSender<Msg>,
) {
    while let Some((p, t)) = units.claim(id, claims) {
        let plan = &units.plans[p];
        let ticker = &plan.tickers[t];
        let mut chunk = Batch::with_capacity(chunk_rows);
        let scanned = read::for_each_bar(conn, request.view, ticker, plan.partition.timeframe, plan.window, |bar| {
            chunk.push(ticker, &bar);
            if chunk.len() == chunk_rows {
                let full = std::mem::replace(&mut chunk, Batch::with_capacity(chunk_rows));
                tx.send(Msg::Rows(Box::new(full))).map_err(|_| Gone::Writer)?;
            }
            Ok::<_, Gone>(())
        });
        let sent = match scanned {
            Ok(()) if chunk.is_empty() => tx.send(Msg::UnitEnd),
            Ok(()) => tx.send(Msg::Rows(Box::new(chunk))).and_then(|()| tx.send(Msg::UnitEnd)),
            Err(Gone::Sql(e)) => tx.send(Msg::Failed(e)),
            Err(Gone::Writer) => return,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Why a reader's scan ends early.
enum Gone {
    Sql(rusqlite::Error),
    Writer,
}

impl From<rusqlite::Error> for Gone {
    fn from(e: rusqlite::Error) -> Self {
        Gone::Sql(e)
    }
}

enum WriteStop {
    Export(ExportError),
    Sql(rusqlite::Error),
}

impl From<ExportError> for WriteStop {
    fn from(e: ExportError) -> Self {
        WriteStop::Export(e)
    }
}

/// The writer: partitions in order, each unit's rows from the reader that claimed it,
/// cut into row groups of the request's size. A partition is committed only once all its
/// rows are written; on an error its new files are dropped and its old ones stay.
fn write_units(
    request: &Request,
    plans: &[PartitionPlan],
    claims: &Receiver<usize>,
    channels: &[Receiver<Msg>],
    progress: &dyn Progress,
) -> Result<Summary, WriteStop> {
    let group_rows = request.shape.row_group_rows.max(1);
    let mut summary = Summary { partitions: plans.len(), ..Summary::default() };
    let mut group = Batch::with_capacity(group_rows);
    let vanished =
        || WriteStop::Export(ExportError::Write { path: request.out.clone(), message: "a reader stopped".into() });
    for plan in plans {
        let mut files = PartitionFiles::begin(request, plan.partition)?;
        group.clear();
        for _ in &plan.tickers {
            let reader = claims.recv().map_err(|_| vanished())?;
            loop {
                let chunk = match channels[reader].recv().map_err(|_| vanished())? {
                    Msg::Rows(chunk) => chunk,
                    Msg::UnitEnd => break,
                    Msg::Failed(e) => return Err(WriteStop::Sql(e)),
                };
                let mut at = 0;
                while at < chunk.len() {
                    let n = (group_rows - group.len()).min(chunk.len() - at);
                    group.extend_from(&chunk, at..at + n);
                    at += n;
                    if group.len() == group_rows {
                        write_group(&mut files, &mut group, &mut summary, progress)?;
                    }
                }
            }
        }
        if !group.is_empty() {
            write_group(&mut files, &mut group, &mut summary, progress)?;
        }
        let committed = files.commit()?;
        summary.files += committed.files;
        summary.bytes += committed.bytes;
    }
    Ok(summary)
}

fn write_group(
    files: &mut PartitionFiles,
    group: &mut Batch,
    summary: &mut Summary,
    progress: &dyn Progress,
) -> Result<(), ExportError> {
    files.write(group)?;
    summary.bars += group.len() as u64;
    progress.written(group.len() as u64);
    group.clear();
    Ok(())
}
