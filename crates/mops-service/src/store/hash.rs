//! The tamper-evident hash chain of each stream, and the hash of a request
//! for idempotency.

use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of a stream's first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// SHA-256 over the previous hash, the stream, the sequence number and the
/// event body exactly as stored. Editing any of them, or removing an event,
/// breaks the chain from there on.
pub fn chain(prev: &[u8], stream: Uuid, seq: i64, body: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(stream.as_bytes());
    h.update(seq.to_be_bytes());
    h.update(body.as_bytes());
    h.finalize().to_vec()
}

/// A fingerprint of what a request asks, so a reused idempotency key with a
/// different command is recognised.
pub fn request<T: Serialize>(target: Uuid, command: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut h = Sha256::new();
    h.update(target.as_bytes());
    h.update(serde_json::to_vec(command)?);
    Ok(h.finalize().to_vec())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
