//! Helpers for tests that run the real `snowflk-server` binary: start it on
//! an OS-chosen port (`--listen 127.0.0.1:0 --port-file`), wait for it with
//! a bounded deadline, and always kill it (a guard with `Drop`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long anything may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_snowflk-server")
}

/// Polls `f` until it returns `Some`, failing the test after [`DEADLINE`].
pub fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// A running server; killed on drop.
pub struct Node {
    /// The process.
    pub child: Option<Child>,
    /// Its client address.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    stderr_path: PathBuf,
}

impl Node {
    /// Starts `snowflk-server --replication none` on `data_dir` with extra
    /// flags, and waits until it listens.
    pub fn start_none(work: &Path, name: &str, extra: &[&str]) -> Node {
        let data_dir = work.join(name);
        let mut args: Vec<String> = vec![
            "--replication".into(),
            "none".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_with(work, name, &args, data_dir)
    }

    /// Starts the binary with exactly `args` (plus `--port-file`).
    pub fn start_with(work: &Path, name: &str, args: &[String], data_dir: PathBuf) -> Node {
        let port_file = work.join(format!("{name}.port"));
        let _ = std::fs::remove_file(&port_file);
        let stderr_path = work.join(format!("{name}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(binary())
            .args(args)
            .arg("--port-file")
            .arg(&port_file)
            .current_dir(work)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn snowflk-server");
        let addr = poll("the port file", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "server exited early with {status}: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            let text = std::fs::read_to_string(&port_file).ok()?;
            text.trim().parse::<SocketAddr>().ok()
        });
        Node {
            child: Some(child),
            addr,
            data_dir,
            stderr_path,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// A `redis` client connection.
    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://{}/", self.addr)).unwrap();
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(10))
            .unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        conn
    }

    /// A raw TCP connection with read timeouts.
    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Sends a signal with `kill(1)`.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let status = poll("the server to exit", || child.try_wait().unwrap());
        self.child = None;
        status
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the binary with `args` in `cwd` to completion (bounded), killing it
/// if it outlives the deadline. Returns status and stderr.
pub fn run_to_exit(cwd: &Path, args: &[&str]) -> (ExitStatus, String) {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = {
        struct Kill<'a>(&'a mut Child, bool);
        impl Drop for Kill<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    let _ = self.0.kill();
                    let _ = self.0.wait();
                }
            }
        }
        let mut guard = Kill(&mut child, false);
        let status = poll("the process to exit", || guard.0.try_wait().unwrap());
        guard.1 = true;
        status
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

/// Writes `bytes` and reads until the peer closes or `want` bytes came.
pub fn exchange(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).unwrap();
}

/// Reads until `needle` appears in what was read (bounded by the read
/// timeout); returns everything read.
pub fn read_until(stream: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.windows(needle.len()).any(|w| w == needle) {
        let n = stream.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "closed before {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Reads until the peer closes the connection; returns everything read.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}
