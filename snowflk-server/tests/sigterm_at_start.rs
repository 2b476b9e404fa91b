//! A SIGTERM that arrives while a node is still starting (here: waiting for
//! the cluster to acknowledge its `--join`) shuts it down cleanly once it
//! has started, with exit status 0. (Before, the handler was installed only
//! once the node served, and such a SIGTERM killed it by the default
//! action: membership.rs's restart test failed on CI-like timing.)

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;

/// Reads one RESP array of bulk strings; `None` at the end of the stream.
fn read_command(r: &mut impl BufRead) -> Option<Vec<String>> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let n: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).ok()?;
        let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
        let mut buf = vec![0u8; len + 2];
        r.read_exact(&mut buf).ok()?;
        buf.truncate(len);
        args.push(String::from_utf8(buf).ok()?);
    }
    Some(args)
}

/// The cluster id the handshake compares for the default cluster name.
fn default_cluster_id() -> u64 {
    // FNV-1a 64 of "snowflk" (docs/format.md, "Peer protocol").
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"snowflk" {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Kills the child if the test ends early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_sigterm_while_joining_is_a_clean_shutdown_once_started() {
    let work = tempfile::tempdir().unwrap();
    // A fake member: answers INFO and MEMBERS at once, and ADD-NODE only
    // when the test says so.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let member = listener.local_addr().unwrap().to_string();
    let (asked_tx, asked_rx) = mpsc::channel::<()>();
    let (answer_tx, answer_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut answer_rx = Some(answer_rx);
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            while let Some(args) = read_command(&mut r) {
                let sub = args.get(1).map(|s| s.to_ascii_uppercase());
                let reply = match sub.as_deref() {
                    Some("REPLICATION") => {
                        let text = format!(
                            "# Replication\r\nraft_cluster_id:{}\r\n",
                            default_cluster_id()
                        );
                        format!("${}\r\n{text}\r\n", text.len())
                    }
                    Some("MEMBERS") => {
                        let addr = "127.0.0.1:1";
                        format!(
                            "*1\r\n*4\r\n$2\r\nid\r\n:1\r\n$4\r\naddr\r\n${}\r\n{addr}\r\n",
                            addr.len()
                        )
                    }
                    Some("ADD-NODE") => {
                        let _ = asked_tx.send(());
                        if let Some(rx) = answer_rx.take() {
                            let _ = rx.recv();
                        }
                        "+OK\r\n".to_string()
                    }
                    _ => "-ERR unexpected\r\n".to_string(),
                };
                if w.write_all(reply.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });

    let mut child = KillOnDrop(
        Command::new(common::binary())
            .args([
                "--id",
                "4",
                "--data-dir",
                "n4",
                "--listen",
                "127.0.0.1:0",
                "--peer-listen",
                "127.0.0.1:0",
                "--join",
                &member,
            ])
            .current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.path().join("n4.stderr")).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || std::fs::read_to_string(work.path().join("n4.stderr")).unwrap_or_default();
    // The node is past its start-up checks and waits for the cluster.
    asked_rx
        .recv_timeout(common::DEADLINE)
        .unwrap_or_else(|_| panic!("ADD-NODE never came: {}", stderr()));
    let ok = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    answer_tx.send(()).unwrap();
    let status = common::poll("the node to exit", || child.0.try_wait().unwrap());
    assert!(status.success(), "{status}: {}", stderr());
    assert!(stderr().contains("SIGTERM received"), "{}", stderr());
}
