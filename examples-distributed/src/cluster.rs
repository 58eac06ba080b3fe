//! One process of a timely cluster: read the hostfile, connect to every
//! other process over TCP (with a deadline and a handshake), run timely's
//! workers over those sockets, and end promptly when a peer goes away.
//!
//! timely's own `Config::Cluster` retries a refused connection forever
//! (printing a line a second) and, when a peer dies mid-run, panics in its
//! receive thread while the workers wait for progress that never comes. So
//! this module makes the sockets itself and hands them to timely
//! (`initialize_networking_from_sockets`), and [`guard`] turns the failure
//! modes into one line and a documented exit code:
//!
//! | what happened | line | exit |
//! |---|---|---|
//! | a bad hostfile, `--process` out of range, a mismatched peer | names the line or the peer | 2 |
//! | a peer that never answers within `--connect-timeout` | names the peer and its address | 2 |
//! | a peer lost mid-run (killed, crashed, its machine gone) | names the peer | [`PEER_LOST`] (4) |
//! | no result within `--timeout` (a peer hung, a network that drops packets) | says how long | [`STALLED`] (5) |
//!
//! The connection topology is timely's: process `i` connects to every
//! process below it and accepts from every process above it; process 0
//! only accepts. Each side sends a 48-byte hello (magic, from, to, process
//! count, threads per process, a fingerprint of the job), so two processes
//! started with different flags refuse each other instead of computing
//! nonsense.
//!
//! ```
//! use examples_distributed::cluster::Hosts;
//! let hosts = Hosts::parse("# two processes\n127.0.0.1:2101\n127.0.0.1:2102\n", "hosts.txt")?;
//! assert_eq!(hosts.len(), 2);
//! assert!(Hosts::parse("127.0.0.1\n", "hosts.txt").is_err()); // no port
//! # Ok::<(), examples_distributed::cluster::ClusterError>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::FromRawFd;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use timely::communication::Hooks;
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::worker::Worker;

/// Exit code for what the user can fix: the flags, the hostfile, a peer
/// that never answers (as `lesson::USAGE`; this module uses no `lesson`,
/// so it can be copied alone).
pub const USAGE: i32 = 2;
/// Exit code when the system refused something (`sysexits`' `EX_OSERR`).
pub const SYSTEM: i32 = 71;
/// Exit code of a cluster process whose peer went away mid-run.
pub const PEER_LOST: i32 = 4;
/// Exit code of a cluster process that had no result within its timeout.
pub const STALLED: i32 = 5;
/// Exit code when a worker thread panicked (not a lost peer).
pub const PANICKED: i32 = 101;

/// When set, the process inherited its listening socket on this descriptor
/// (the launcher bound it, so no other program can take the port between
/// choosing it and using it).
pub const LISTEN_FD_ENV: &str = "EXAMPLES_DISTRIBUTED_LISTEN_FD";

/// Set once the inherited listening socket has been taken.
static TAKEN: AtomicBool = AtomicBool::new(false);

const MAGIC: [u8; 8] = *b"TVPDFLW1";
const HELLO: usize = 48;

/// What can stop a cluster before or while it runs.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The hostfile cannot be read or has a bad line.
    #[error("hostfile {path}: {why}")]
    BadHostfile {
        /// Where it came from.
        path: String,
        /// What is wrong, with the line number.
        why: String,
    },
    /// `--process` is not an index into the hostfile.
    #[error("--process {index} is out of range: the hostfile lists {processes} processes (0..={last})", last = processes - 1)]
    NoSuchProcess {
        /// The index asked for.
        index: usize,
        /// Processes in the hostfile.
        processes: usize,
    },
    /// This process cannot listen on its own address.
    #[error("process {index} cannot listen on {addr}: {cause}")]
    Listen {
        /// This process.
        index: usize,
        /// Its hostfile address.
        addr: String,
        /// Why.
        cause: io::Error,
    },
    /// A peer did not connect, or did not answer, before the deadline.
    #[error("{what} within {secs} s{cause}", secs = .limit.as_secs_f64())]
    NoAnswer {
        /// Who, at which address.
        what: String,
        /// The connect timeout.
        limit: Duration,
        /// The last error seen, if any (`": connection refused"`).
        cause: String,
    },
    /// A peer answered with a hello that does not match this process.
    #[error("{0}")]
    Mismatch(String),
    /// timely refused to start.
    #[error("timely: {0}")]
    Timely(String),
    /// A worker ended without a result.
    #[error("a worker failed: {0}")]
    Worker(String),
    /// A system call failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl ClusterError {
    /// The exit code this error documents: 2 for what the user can fix in
    /// the hostfile or the flags (a peer that never answers included), 71
    /// for the system refusing something.
    pub fn code(&self) -> i32 {
        match self {
            ClusterError::Io(_) | ClusterError::Timely(_) => SYSTEM,
            ClusterError::Worker(_) => PANICKED,
            _ => USAGE,
        }
    }
}

/// The processes of a cluster, in order: one `host:port` per line (blank
/// lines and `#` comments skipped), as timely's `-h` hostfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    addrs: Vec<String>,
}

impl Hosts {
    /// Reads a hostfile.
    pub fn read(path: &Path) -> Result<Self, ClusterError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ClusterError::BadHostfile {
            path: shown.clone(),
            why: e.to_string(),
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses hostfile text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, ClusterError> {
        let bad = |why: String| ClusterError::BadHostfile {
            path: path.to_string(),
            why,
        };
        let mut addrs: Vec<String> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (host, port) = line
                .rsplit_once(':')
                .ok_or_else(|| bad(format!("line {}: {line:?} is not host:port", n + 1)))?;
            let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(|| {
                bad(format!(
                    "line {}: {port:?} is not a port (1..=65535)",
                    n + 1
                ))
            })?;
            if host.is_empty() {
                return Err(bad(format!("line {}: no host before :{port}", n + 1)));
            }
            if addrs.iter().any(|a| a == line) {
                return Err(bad(format!("line {}: {line} is listed twice", n + 1)));
            }
            addrs.push(line.to_string());
        }
        if addrs.is_empty() {
            return Err(bad("lists no process".into()));
        }
        Ok(Self { addrs })
    }

    /// Loopback addresses, one per listener, as a hostfile.
    pub fn of_listeners(listeners: &[TcpListener]) -> io::Result<Self> {
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.to_string()))
            .collect::<io::Result<_>>()?;
        Ok(Self { addrs })
    }

    /// Processes listed.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// Never true: a hostfile lists at least one process.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// The address of process `i`.
    pub fn addr(&self, i: usize) -> &str {
        &self.addrs[i]
    }

    /// The hostfile text.
    pub fn text(&self) -> String {
        self.addrs.iter().map(|a| format!("{a}\n")).collect()
    }
}

/// `n` listening sockets on free loopback ports (the kernel picks them).
pub fn free_loopback_listeners(n: usize) -> io::Result<Vec<TcpListener>> {
    (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect()
}

/// This process's place in a cluster and how long it waits for the others.
#[derive(Debug, Clone)]
pub struct Member {
    /// Which process this is (a line of the hostfile, from 0).
    pub index: usize,
    /// Every process.
    pub hosts: Hosts,
    /// Worker threads in each process (the same in all of them).
    pub threads: usize,
    /// How long to wait for the other processes to connect and answer.
    pub connect_timeout: Duration,
}

impl Member {
    /// Checks the index against the hostfile.
    pub fn new(
        index: usize,
        hosts: Hosts,
        threads: usize,
        connect_timeout: Duration,
    ) -> Result<Self, ClusterError> {
        if index >= hosts.len() {
            return Err(ClusterError::NoSuchProcess {
                index,
                processes: hosts.len(),
            });
        }
        Ok(Self {
            index,
            hosts,
            threads: threads.max(1),
            connect_timeout,
        })
    }

    /// Workers in the whole cluster.
    pub fn peers(&self) -> usize {
        self.hosts.len() * self.threads
    }

    /// Connects to every other process (see the module docs) and runs
    /// `func` on this process's worker threads over those connections;
    /// returns what each local worker returned. `job` is a fingerprint of
    /// the work: every process must have the same one.
    pub fn execute<T, F>(&self, job: u64, func: F) -> Result<Vec<T>, ClusterError>
    where
        T: Send + 'static,
        F: Fn(&mut Worker) -> T + Send + Sync + 'static,
    {
        let sockets = self.connect(job)?;
        let hooks = Hooks::default();
        let local = ProcessBuilder::new_typed_vector(
            self.threads,
            hooks.refill.clone(),
            hooks.spill.clone(),
        );
        let (builders, comms) =
            initialize_networking_from_sockets(local, sockets, self.index, self.threads, hooks)?;
        let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
        let guards = timely::execute::execute_from(
            builders,
            Box::new(comms),
            timely::WorkerConfig::default(),
            func,
        )
        .map_err(ClusterError::Timely)?;
        guards
            .join()
            .into_iter()
            .map(|r| r.map_err(ClusterError::Worker))
            .collect()
    }

    /// The sockets timely wants: `Some` for every other process, `None` at
    /// this one's index.
    fn connect(&self, job: u64) -> Result<Vec<Option<TcpStream>>, ClusterError> {
        let deadline = Instant::now() + self.connect_timeout;
        let me = self.index;
        let n = self.hosts.len();
        let listener = self.listener()?;
        let mut sockets: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
        for (peer, slot) in sockets.iter_mut().enumerate().take(me) {
            let mut stream = self.dial(peer, deadline)?;
            self.say_hello(&mut stream, peer, job)?;
            self.hear_hello(&mut stream, peer, job, deadline)?;
            *slot = Some(stream);
        }
        listener.set_nonblocking(true)?;
        while sockets[me + 1..].iter().any(Option::is_none) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false)?;
                    let peer = self.hear_hello(&mut stream, usize::MAX, job, deadline)?;
                    if peer <= me || sockets[peer].is_some() {
                        return Err(ClusterError::Mismatch(format!(
                            "process {me} got a second connection claiming to be process {peer}"
                        )));
                    }
                    self.say_hello(&mut stream, peer, job)?;
                    sockets[peer] = Some(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        let missing: Vec<String> = (me + 1..n)
                            .filter(|&p| sockets[p].is_none())
                            .map(|p| p.to_string())
                            .collect();
                        return Err(ClusterError::NoAnswer {
                            what: format!(
                                "process {me} waited for process {} to connect, in vain,",
                                missing.join(", ")
                            ),
                            limit: self.connect_timeout,
                            cause: String::new(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
        for s in sockets.iter().flatten() {
            s.set_read_timeout(None)?;
            s.set_nodelay(true)?;
        }
        Ok(sockets)
    }

    fn listener(&self) -> Result<TcpListener, ClusterError> {
        let addr = self.hosts.addr(self.index);
        let listen_err = |cause: io::Error| ClusterError::Listen {
            index: self.index,
            addr: addr.to_string(),
            cause,
        };
        if let Some(fd) = std::env::var(LISTEN_FD_ENV)
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
        {
            if TAKEN.swap(true, Ordering::SeqCst) {
                return Err(listen_err(io::Error::other(
                    "the inherited socket was used already",
                )));
            }
            // SAFETY: the launcher put a listening TCP socket on this
            // descriptor (dup2 before exec) and nothing else in this
            // process uses it; `TAKEN` makes sure it is owned only once.
            let listener = unsafe { TcpListener::from_raw_fd(fd) };
            let got = listener.local_addr().map_err(listen_err)?;
            if resolve(addr).map_err(listen_err)?.contains(&got) {
                return Ok(listener);
            }
            return Err(listen_err(io::Error::other(format!(
                "the inherited socket listens on {got}"
            ))));
        }
        let addrs = resolve(addr).map_err(listen_err)?;
        TcpListener::bind(&addrs[..]).map_err(listen_err)
    }

    /// Connects to `peer`, retrying a refused connection (it may not have
    /// started yet) until the deadline.
    fn dial(&self, peer: usize, deadline: Instant) -> Result<TcpStream, ClusterError> {
        let addr = self.hosts.addr(peer);
        let mut last = String::new();
        let no_answer = |last: String| ClusterError::NoAnswer {
            what: format!(
                "process {} got no answer from process {peer} at {addr}",
                self.index
            ),
            limit: self.connect_timeout,
            cause: if last.is_empty() {
                last
            } else {
                format!(" ({last})")
            },
        };
        let addrs = resolve(addr).map_err(|e| no_answer(e.to_string()))?;
        loop {
            for a in &addrs {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(no_answer(last));
                }
                match TcpStream::connect_timeout(a, left.min(Duration::from_secs(1))) {
                    Ok(s) => return Ok(s),
                    Err(e) => last = e.to_string(),
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn say_hello(&self, stream: &mut TcpStream, to: usize, job: u64) -> Result<(), ClusterError> {
        let mut hello = [0u8; HELLO];
        hello[..8].copy_from_slice(&MAGIC);
        let fields = [
            self.index as u64,
            to as u64,
            self.hosts.len() as u64,
            self.threads as u64,
            job,
        ];
        for (i, f) in fields.iter().enumerate() {
            hello[8 + 8 * i..16 + 8 * i].copy_from_slice(&f.to_le_bytes());
        }
        stream.write_all(&hello)?;
        Ok(())
    }

    /// Reads a hello and checks it; `from` is who it must come from
    /// (`usize::MAX`: anyone above this process). Returns the sender.
    fn hear_hello(
        &self,
        stream: &mut TcpStream,
        from: usize,
        job: u64,
        deadline: Instant,
    ) -> Result<usize, ClusterError> {
        let left = deadline.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        let mut hello = [0u8; HELLO];
        let me = self.index;
        let who = if from == usize::MAX {
            "a connecting process".to_string()
        } else {
            format!("process {from}")
        };
        if let Err(e) = stream.read_exact(&mut hello) {
            return Err(match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClusterError::NoAnswer {
                    what: format!("process {me} got no hello from {who}"),
                    limit: self.connect_timeout,
                    cause: String::new(),
                },
                _ => ClusterError::Mismatch(format!(
                    "process {me}: {who} hung up during the handshake ({e}); it may have refused this process's flags"
                )),
            });
        }
        if hello[..8] != MAGIC {
            return Err(ClusterError::Mismatch(format!(
                "process {me}: {who} is not a process of this program (bad hello)"
            )));
        }
        let field =
            |i: usize| u64::from_le_bytes(hello[8 + 8 * i..16 + 8 * i].try_into().expect("8"));
        let (sender, to, n, threads, their_job) =
            (field(0), field(1), field(2), field(3), field(4));
        let sender = usize::try_from(sender).unwrap_or(usize::MAX);
        let mismatch = |what: String| Err(ClusterError::Mismatch(format!("process {me}: {what}")));
        if (from != usize::MAX && sender != from) || sender >= self.hosts.len() {
            return mismatch(format!("{who} says it is process {sender}"));
        }
        if to != me as u64 || n != self.hosts.len() as u64 {
            return mismatch(format!(
                "process {sender} thinks it talks to process {to} of {n}; check that every process has the same hostfile"
            ));
        }
        if threads != self.threads as u64 {
            return mismatch(format!(
                "process {sender} runs {threads} threads, this one {}; give every process the same --threads",
                self.threads
            ));
        }
        if their_job != job {
            return mismatch(format!(
                "process {sender} was started with a different job; give every process the same flags"
            ));
        }
        Ok(sender)
    }
}

fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::other(format!("{addr} resolves to no address")));
    }
    Ok(addrs)
}

/// A 64-bit fingerprint of a job's description (FNV-1a), for the hello.
pub fn fingerprint(description: &str) -> u64 {
    description.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Makes this process end promptly, with one line and a documented code,
/// when the cluster breaks: a panic on a timely thread (its receive thread
/// panics with "timely communication error" when a peer's socket closes)
/// exits [`PEER_LOST`] (or [`PANICKED`] for any other panic there), and a
/// watchdog exits [`STALLED`] if the process is still running after
/// `timeout`. Both use `_exit`: timely's other threads may be parked
/// forever, so there is nothing to unwind to. Call it once, before
/// [`Member::execute`].
pub fn guard(index: usize, timeout: Duration) -> io::Result<()> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("");
            if message.starts_with("timely communication error") {
                let peer = name
                    .rsplit_once('-')
                    .map_or("a peer".to_string(), |(_, p)| format!("process {p}"));
                die(
                    PEER_LOST,
                    &format!("process {index} lost {peer} ({message}); stopping"),
                );
            } else if name.starts_with("timely:") {
                die(
                    PANICKED,
                    &format!("process {index}: {name} panicked: {message}"),
                );
            } else {
                previous(info);
            }
        }));
    });
    std::thread::Builder::new()
        .name("cluster-watchdog".into())
        .spawn(move || {
            std::thread::sleep(timeout);
            die(
                STALLED,
                &format!(
                    "process {index} had no result after {} s (--timeout); a peer hung or the network stalled",
                    timeout.as_secs_f64()
                ),
            );
        })?;
    Ok(())
}

/// One line on stderr and `_exit(code)`, from any thread.
fn die(code: i32, line: &str) -> ! {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "error: {line}");
    let _ = err.flush();
    // SAFETY: `_exit` ends the process at once; timely's threads may be
    // parked forever, so no unwinding or destructors are wanted.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostfiles_take_ipv6_loopback_and_refuse_bad_lines() {
        let hosts = Hosts::parse("[::1]:2101\n  127.0.0.1:2102  \n\n# end\n", "h").unwrap();
        assert_eq!(
            (hosts.len(), hosts.addr(0), hosts.addr(1)),
            (2, "[::1]:2101", "127.0.0.1:2102")
        );
        for (text, says) in [
            ("", "lists no process"),
            ("127.0.0.1:0\n", "not a port"),
            ("127.0.0.1:99999\n", "not a port"),
            (":2101\n", "no host"),
            ("a:1\na:1\n", "line 2: a:1 is listed twice"),
        ] {
            let e = Hosts::parse(text, "h").unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn an_index_past_the_hostfile_is_refused_with_exit_2() {
        let hosts = Hosts::parse("127.0.0.1:1\n", "h").unwrap();
        let e = Member::new(1, hosts, 1, Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.code(), USAGE);
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn fingerprints_differ_for_different_jobs() {
        assert_ne!(
            fingerprint("primes limit 10"),
            fingerprint("primes limit 11")
        );
    }
}
