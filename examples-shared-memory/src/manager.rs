//! A server process that owns a key/value map and answers get/put over a
//! Unix socket: Python's `multiprocessing.Manager().dict()`.
//!
//! Every operation is a round trip: encode (postcard), write, a context
//! switch to the server, decode, look up, encode, write, a switch back.
//! That costs microseconds where a load from shared memory costs
//! nanoseconds; what it buys is any data structure, owned by one process,
//! with no shared-memory hazards. [`serve`] also reads and writes a shared
//! table on request, so a test can see both paths cross the process line.
//!
//! ```
//! use std::os::unix::net::UnixStream;
//! use examples_shared_memory::manager::{Client, serve};
//!
//! let (client_end, server_end) = UnixStream::pair()?;
//! let server = std::thread::spawn(move || serve(server_end, &[])); // a process, normally
//! let mut client = Client::new(client_end);
//! client.put(7, 49)?;
//! assert_eq!(client.get(7)?, Some(49));
//! assert_eq!(client.get(8)?, None);
//! client.stop()?;
//! server.join().unwrap()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a client asks.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// The server map's value for a key.
    Get(u64),
    /// Store a value in the server map.
    Put(u64, u64),
    /// Read slot `key` of the shared table.
    SharedGet(u64),
    /// Write slot `key` of the shared table.
    SharedPut(u64, u64),
    /// End the server.
    Stop,
}

/// What the server answers.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Response {
    /// A value, or none for a missing key / slot out of range.
    Value(Option<u64>),
    /// The put or stop was done.
    Done,
    /// The request was refused, and why (a slot outside the shared table).
    Refused(String),
}

/// Longest frame either side accepts: a request or response is a few bytes.
pub const MAX_FRAME: usize = 1024;

/// Answers requests from `stream` until `Stop` or end of stream. `shared`
/// is a table in memory shared with the client (may be empty).
pub fn serve(mut stream: UnixStream, shared: &[AtomicU64]) -> io::Result<()> {
    let mut map = HashMap::new();
    while let Some(request) = receive::<Request>(&mut stream)? {
        let slot = |k: u64| shared.get(usize::try_from(k).ok()?);
        let response = match request {
            Request::Get(k) => Response::Value(map.get(&k).copied()),
            Request::Put(k, v) => {
                map.insert(k, v);
                Response::Done
            }
            Request::SharedGet(k) => Response::Value(slot(k).map(|w| w.load(Ordering::Acquire))),
            Request::SharedPut(k, v) => match slot(k) {
                Some(w) => {
                    w.store(v, Ordering::Release);
                    Response::Done
                }
                None => Response::Refused(format!(
                    "slot {k} is outside the shared table of {} slots",
                    shared.len()
                )),
            },
            Request::Stop => {
                send(&mut stream, &Response::Done)?;
                return Ok(());
            }
        };
        send(&mut stream, &response)?;
    }
    Ok(())
}

/// The client side of one connection.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// A client talking over `stream`.
    pub fn new(stream: UnixStream) -> Self {
        Self { stream }
    }

    /// Sends one request and waits for its answer.
    pub fn call(&mut self, request: &Request) -> io::Result<Response> {
        send(&mut self.stream, request)?;
        receive(&mut self.stream)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "manager closed the socket")
        })
    }

    /// `dict[key]`, or `None`.
    pub fn get(&mut self, key: u64) -> io::Result<Option<u64>> {
        self.value(&Request::Get(key))
    }

    /// `dict[key] = value`.
    pub fn put(&mut self, key: u64, value: u64) -> io::Result<()> {
        self.call(&Request::Put(key, value)).map(drop)
    }

    /// Asks the server to read slot `key` of the shared table.
    pub fn shared_get(&mut self, key: u64) -> io::Result<Option<u64>> {
        self.value(&Request::SharedGet(key))
    }

    /// Asks the server to write slot `key` of the shared table.
    pub fn shared_put(&mut self, key: u64, value: u64) -> io::Result<()> {
        match self.call(&Request::SharedPut(key, value))? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Ends the server and waits for its goodbye.
    pub fn stop(&mut self) -> io::Result<()> {
        self.call(&Request::Stop).map(drop)
    }

    fn value(&mut self, request: &Request) -> io::Result<Option<u64>> {
        match self.call(request)? {
            Response::Value(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(response: Response) -> io::Error {
    let what = match response {
        Response::Refused(why) => format!("the manager refused: {why}"),
        other => format!("the manager answered {other:?}, not what was asked"),
    };
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Times `ops` put-then-get pairs through the manager, on keys `0..keys`;
/// returns nanoseconds per operation. Errors if a get misses its put.
pub fn time_managed(client: &mut Client, ops: u64, keys: u64) -> io::Result<f64> {
    let start = Instant::now();
    for i in 0..ops {
        client.put(i % keys, i)?;
        if client.get(i % keys)? != Some(i) {
            let lost = format!("manager lost the put of key {}", i % keys);
            return Err(io::Error::other(lost));
        }
    }
    Ok(start.elapsed().as_secs_f64() * 1e9 / (2 * ops) as f64)
}

/// The same pairs as [`time_managed`], as a store and a load on `table`
/// (keys `0..table.len()`); nanoseconds per operation.
pub fn time_shared(table: &[AtomicU64], ops: u64) -> io::Result<f64> {
    let keys = table.len() as u64;
    let start = Instant::now();
    for i in 0..ops {
        table[black_box(i % keys) as usize].store(i, Ordering::Release);
        if black_box(table[(i % keys) as usize].load(Ordering::Acquire)) != i {
            let lost = format!("shared table lost the store of key {}", i % keys);
            return Err(io::Error::other(lost));
        }
    }
    Ok(start.elapsed().as_secs_f64() * 1e9 / (2 * ops) as f64)
}

/// Writes one message: a 4-byte little-endian length, then postcard bytes.
pub fn send<T: Serialize>(to: &mut impl Write, message: &T) -> io::Result<()> {
    let body = postcard::to_stdvec(message).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    to.write_all(&frame)
}

/// Reads one message, or `None` at a clean end of stream.
pub fn receive<T: DeserializeOwned>(from: &mut impl Read) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match from.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if len > MAX_FRAME {
        return Err(bad(format!("frame length {len}, at most {MAX_FRAME}")));
    }
    let mut body = vec![0u8; len];
    from.read_exact(&mut body)
        .map_err(|e| bad(format!("frame of {len} bytes cut short: {e}")))?;
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|e| bad(format!("frame of {len} bytes does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_frames_are_errors_naming_what_was_wrong() {
        let too_long = u32::MAX.to_le_bytes();
        let err = receive::<Request>(&mut too_long.as_slice()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("frame length {}, at most 1024", u32::MAX)
        );
        let mut garbage = 3u32.to_le_bytes().to_vec();
        garbage.extend_from_slice(&[0xFF, 0xFF, 0xFF]);
        let err = receive::<Request>(&mut garbage.as_slice()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("frame of 3 bytes does not decode"),
            "{err}"
        );
        let cut = [8u8, 0, 0, 0, 1];
        let err = receive::<Request>(&mut cut.as_slice()).unwrap_err();
        assert!(
            err.to_string().starts_with("frame of 8 bytes cut short"),
            "{err}"
        );
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        send(&mut buf, &Request::Put(3, 9)).unwrap();
        let back: Request = receive(&mut buf.as_slice()).unwrap().unwrap();
        assert!(matches!(back, Request::Put(3, 9)));
        assert!(receive::<Request>(&mut [].as_slice()).unwrap().is_none());
    }

    #[test]
    fn shared_slots_out_of_range_are_none() {
        let table = [AtomicU64::new(5)];
        let (a, b) = UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || serve(b, &table));
        let mut client = Client::new(a);
        assert_eq!(client.shared_get(0).unwrap(), Some(5));
        assert_eq!(client.shared_get(1).unwrap(), None);
        let refused = client.shared_put(9, 1).unwrap_err().to_string();
        assert!(
            refused.contains("slot 9 is outside the shared table of 1 slots"),
            "{refused}"
        );
        client.stop().unwrap();
        server.join().unwrap().unwrap();
    }
}
