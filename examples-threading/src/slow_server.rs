//! A loopback TCP server that answers after a delay: a real socket for the
//! I/O-bound lessons to wait on, and the client calls that wait on it.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::fan_out::{Fanout, fan_out};
use crate::measure::{Measured, measure};
use crate::wait_job::blocking_wait;

/// A loopback TCP server that answers every request after a fixed delay,
/// one thread per connection, so many requests can wait at the same time
/// (like a slow web service). It listens on `127.0.0.1` on a port the kernel
/// picks; dropping it stops accepting and joins every thread.
///
/// Protocol: the client sends one line, the server waits `delay` and sends
/// the same line back.
///
/// ```
/// use std::time::Duration;
/// use examples_threading::slow_server::{request, SlowServer};
///
/// let server = SlowServer::start(Duration::from_millis(5))?;
/// assert_eq!(request(server.addr(), "hello")?, "hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SlowServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// The first thread the system refused the server, if any: a client
    /// then sees its connection reset, and this says why.
    refused: Arc<Mutex<Option<String>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl SlowServer {
    /// Binds `127.0.0.1:0` and starts accepting.
    pub fn start(delay: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(Mutex::new(None));
        let (stop_flag, refusals) = (Arc::clone(&stop), Arc::clone(&refused));
        let acceptor = thread::Builder::new()
            .name("slow-server".into())
            .spawn(move || accept_loop(&listener, delay, &stop_flag, &refusals))?;
        Ok(Self {
            addr,
            stop,
            refused,
            acceptor: Some(acceptor),
        })
    }

    /// Why the server dropped a connection unanswered: the system refused
    /// it a thread for it (`None` if that never happened).
    pub fn refused(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn accept_loop(
    listener: &TcpListener,
    delay: Duration,
    stop: &AtomicBool,
    refused: &Mutex<Option<String>>,
) {
    let mut handlers = Vec::new();
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let Ok(conn) = conn else { continue };
        // A client that goes away mid-request is its own problem.
        match thread::Builder::new().spawn(move || answer_after(conn, delay)) {
            Ok(h) => handlers.push(h),
            Err(e) => {
                let mut first = refused.lock().unwrap_or_else(PoisonError::into_inner);
                first.get_or_insert_with(|| format!("the server could not start a thread: {e}"));
            }
        }
        handlers.retain(|h| !h.is_finished());
    }
    for h in handlers {
        let _ = h.join();
    }
}

fn answer_after(conn: TcpStream, delay: Duration) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    blocking_wait(delay);
    (&conn).write_all(line.as_bytes())?;
    conn.shutdown(Shutdown::Write)
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocked accept() with one last connection. If even that
        // fails (no file descriptors left), leave the thread to die with the
        // process rather than hang here.
        let woke = TcpStream::connect(self.addr).is_ok();
        if let Some(acceptor) = self.acceptor.take().filter(|_| woke) {
            let _ = acceptor.join();
        }
    }
}

/// One blocking request: connect to `addr`, send `body` as a line, wait for
/// the answer (at most 10 s) and return it without the newline.
pub fn request(addr: SocketAddr, body: &str) -> io::Result<String> {
    let conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    (&conn).write_all(format!("{body}\n").as_bytes())?;
    let mut answer = String::new();
    BufReader::new(&conn).read_line(&mut answer)?;
    Ok(answer.trim_end_matches('\n').to_string())
}

/// Sends `calls` requests (`request 0`, `request 1`, ...) to `server`,
/// fanned out as `how` says, and checks that each got its own body back;
/// returns what [`measure`] saw while they ran. A request that failed
/// because the server could not start a thread reports that cause, not
/// the reset connection the client saw.
pub fn echo_all(server: &SlowServer, calls: usize, how: Fanout) -> io::Result<Measured> {
    let addr = server.addr();
    let (answers, m) = measure(|| fan_out(calls, how, |i| request(addr, &format!("request {i}"))));
    for (i, answer) in answers?.into_iter().enumerate() {
        let answer = answer.map_err(|e| match server.refused() {
            Some(cause) => io::Error::other(cause),
            None => e,
        })?;
        if answer != format!("request {i}") {
            let wrong = format!("request {i} got a wrong answer");
            return Err(io::Error::new(io::ErrorKind::InvalidData, wrong));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_answers_many_at_once() -> io::Result<()> {
        let server = SlowServer::start(Duration::from_millis(20))?;
        let addr = server.addr();
        let answers: Vec<_> = thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|i| s.spawn(move || request(addr, &format!("r{i}"))))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, a) in answers.into_iter().enumerate() {
            assert_eq!(a?, format!("r{i}"));
        }
        assert!(server.refused().is_none());
        Ok(())
    }
}
