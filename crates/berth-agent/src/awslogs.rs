//! The `awslogs` log driver: ships a container's stdout/stderr to the Berth
//! server's CloudWatch Logs API (`Logs_20140328.PutLogEvents`).
//!
//! The container itself is created with Docker's `json-file` driver, so its
//! output is buffered on the host's disk whatever happens to the server or
//! the agent: the container never blocks on logging and nothing is lost while
//! the server is away. For each such container the agent follows
//! `docker logs` (stdout and stderr, with timestamps) and ships events:
//!
//! * Stream names as ECS makes them: `<awslogs-stream-prefix>/<container
//!   name>/<task id>`, or the Docker container id without a prefix (Docker's
//!   own default); `awslogs-stream` names it explicitly.
//! * Batches of at most 10,000 events and 1 MiB (26 bytes counted per event,
//!   as CloudWatch does), sent after a 250 ms linger, sorted by timestamp;
//!   events longer than 262,118 bytes are split as Docker's driver does.
//! * No event twice and none lost: before a batch goes out the agent records
//!   it as *in flight* (its end position in the Docker log, its size and a
//!   digest) in `DATA_DIR/awslogs/<container id>.json`; after it was
//!   acknowledged the position becomes the committed cursor. When the answer
//!   is lost (transport error, server killed after its commit, agent
//!   restart), the agent reads the stream's last events (GetLogEvents,
//!   `startFromHead=false`) and compares them with the batch before sending
//!   it again. One agent writes each stream, in order, so this is sound.
//! * Docker positions: each log record is identified by its timestamp
//!   (nanoseconds) and its ordinal among the records with that timestamp; a
//!   restarted shipper asks Docker for the records since the cursor's second
//!   and skips those at or before the cursor.
//! * `awslogs-multiline-pattern` / `awslogs-datetime-format` group lines into
//!   events (a matching line starts a new event) exactly as Docker's driver;
//!   a pending event is sent after 1 s without a new line (or
//!   `awslogs-force-flush-interval-seconds`).
//! * `mode` and `max-buffer-size` are validated by Docker's rules. The json-file
//!   buffer on disk means a container never blocks in either mode; in
//!   `non-blocking` mode a batch held in memory is at most `max-buffer-size`
//!   bytes. Nothing is dropped in either mode.
//! * `awslogs-region` is accepted and ignored: a Berth server is one region
//!   and logs always go to the server the agent is connected to (as do
//!   `awslogs-endpoint` and `awslogs-credentials-endpoint`).
//!
//! Everything up to [`Shippers`] is pure and tested without IO.

mod batch;
mod config;
mod events;
mod ship;

pub use batch::{Batch, Batcher, InFlight, ShipState, digest};
pub use config::{
    AwslogsConfig, AwslogsOptionError, DEFAULT_MULTILINE_FLUSH, EVENT_OVERHEAD, LINGER, MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS, MAX_EVENT_BYTES, ShipSpec, is_awslogs, parse_options, parse_size, spec_for, stream_name,
    strftime_to_regex,
};
pub use events::{Assembler, Cursor, Event, parse_timestamp, split_message};
pub use ship::{PrepareError, Shippers, prepare};

#[cfg(test)]
mod tests;
