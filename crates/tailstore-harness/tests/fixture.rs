//! A minimal stall-capable HTTP server (the test fixture standing in for
//! the example model server): `GET|POST /models/{name}/predict` answers 200
//! after `service`; `POST /admin/stall?ms=N` answers 204 and makes every
//! predict request arriving in the next N ms wait until the stall ends.
//! Listens on 127.0.0.1, closes idle connections after 10 s, and stops
//! when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct StallServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    service: Duration,
    stall_until: Mutex<Option<Instant>>,
}

impl StallServer {
    pub fn start(service: Duration) -> StallServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared { service, stall_until: Mutex::new(None) });
        let stop2 = Arc::clone(&stop);
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(conn, &shared);
                });
            }
        });
        StallServer { addr, stop, accept: Some(accept) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for StallServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Serves the requests of one keep-alive connection.
fn serve(conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.set_nodelay(true)?;
    let mut out = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    loop {
        let mut head = String::new();
        if r.read_line(&mut head)? == 0 {
            return Ok(());
        }
        let arrived = Instant::now();
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; content_length];
        r.read_exact(&mut body)?;
        let mut parts = head.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let status = if method == "POST" && target.starts_with("/admin/stall?ms=") {
            let ms: u64 = target["/admin/stall?ms=".len()..].parse().unwrap_or(0);
            *shared.stall_until.lock().unwrap() = Some(arrived + Duration::from_millis(ms));
            204
        } else if target.starts_with("/models/") && target.ends_with("/predict") {
            let until = *shared.stall_until.lock().unwrap();
            if let Some(until) = until.filter(|u| arrived < *u) {
                std::thread::sleep(until - arrived);
            }
            std::thread::sleep(shared.service);
            200
        } else {
            404
        };
        let reason = match status {
            200 => "OK",
            204 => "No Content",
            _ => "Not Found",
        };
        let payload: &[u8] = if status == 200 { b"{\"score\":0.5}" } else { b"" };
        // One write per response (with TCP_NODELAY): a head and a body in
        // two writes would wait for the client's delayed ACK (~40 ms).
        let mut resp = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\ncontent-type: application/json\r\n\r\n",
            payload.len()
        )
        .into_bytes();
        resp.extend_from_slice(payload);
        out.write_all(&resp)?;
    }
}
