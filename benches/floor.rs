//! The floor (media performance): what forwarding one media packet costs on this machine with
//! confer's socket I/O and SRTP and nothing else, to set the server's own cost against.
//!
//! A forwarder process does, per datagram, only what any SFU must: receive (`recvmmsg`, the
//! media socket's batched I/O from `confer::media::bench_support::io`, on a tokio
//! current-thread runtime as a media worker), open the SRTP packet (AES-256-GCM, `confer-srtp`),
//! rewrite its SSRC and sequence number, seal it for the other side of the visit, and send
//! (`sendmmsg`). No ICE, DTLS, RTCP, retransmission cache, congestion control, statistics or
//! timers. A sender process plays both sides of every visit with the load test's traffic
//! (about 163 video packets of ~1150 bytes and 50 Opus packets a second per side, waking every
//! millisecond as `confer-loadtest --tick-us 1000` does), one UDP socket per side, and counts
//! what comes back (it opens one packet in 16 to check that the forwarder's output is valid
//! SRTP for that side). The two run pinned apart, as `loadtest/compare.sh` runs confer and the
//! generator.
//!
//! Reported: the forwarder's CPU time (`/proc/PID/schedstat`; both processes are
//! single-threaded) over the packets forwarded in the measured window, the figure
//! `compare.sh` reports for confer as "µs/packet", and the sender's, on the same packets.
//! Not a test: it prints a few lines.
//!
//! `cargo bench --bench floor`. Environment: `CONFER_FLOOR_VISITS` (50),
//! `CONFER_FLOOR_SECS` (10), `CONFER_FLOOR_WARMUP_SECS` (3), `CONFER_FLOOR_CRYPTO` (1; 0
//! forwards without opening and sealing, which leaves the kernel's and the loop's part),
//! `CONFER_FLOOR_FORWARD_CORES` (0) and `CONFER_FLOOR_SEND_CORES` (1), as `taskset -c` takes
//! them. Needs `taskset` (util-linux).
//!
//! `CONFER_FLOOR_KEEP=N` (0) adds one duty of an SFU to the floor, to price it live: the last
//! N video packets of each leg are kept (copied into a ring of buffers per leg, as confer's
//! legs keep theirs for NACK answers; confer keeps 128). `CONFER_FLOOR_TOUCH=K` (0) prices
//! reading a leg's state cold: per packet, K cache lines of a per-leg block of
//! `CONFER_FLOOR_STATE_KB` (256) are read, each line's address taken from the line before (as
//! lookups through a leg's maps and structures chain), so the reads cannot overlap.

use confer::media::bench_support::io::{
    recv_batch, send_batch, set_df_without_pmtu, RecvBatch, BATCH, RECV_BUF, SOCKET_BUFFER_BYTES,
};
use confer_srtp::{MasterKey, Profile, Srtp, TAG_LEN};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// First bytes of the one clear datagram each side sends first: magic, visit, side.
const HELLO: &[u8; 4] = b"FLR1";
/// RTP header as the load test's packets carry it: 12 bytes, then a one-byte-header
/// extension block of 8 bytes (absolute send time and transport-wide sequence number).
const HEADER_LEN: usize = 24;
const VIDEO_PAYLOAD: usize = 1100;
const AUDIO_PAYLOAD: usize = 80;
/// 163 video packets a second, the load test's average (its frames of 5 packets, 30 at a key
/// frame, paced 2.45 ms apart); 50 Opus packets a second.
const VIDEO_INTERVAL: Duration = Duration::from_micros(6135);
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const TICK: Duration = Duration::from_millis(1);
/// One received packet in this many is opened by the sender, to check the forwarder's output.
const VERIFY_EVERY: u64 = 16;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}")),
        Err(_) => default,
    }
}

/// The SRTP session one side's packets are sealed with (`up`: towards the forwarder) or
/// opened with (`!up`: from it). Each direction of each side has its own key, as DTLS-SRTP
/// gives each leg its own.
fn session(visit: u32, side: u8, up: bool) -> Srtp {
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31) ^ (visit as u8) ^ (side << 4) ^ (u8::from(up) << 6);
    }
    key[..4].copy_from_slice(&visit.to_be_bytes());
    let salt = [side ^ 0x5a; 12];
    let master = MasterKey::new(Profile::AeadAes256Gcm, &key, &salt).expect("valid lengths");
    Srtp::new(&master).expect("valid key")
}

fn main() {
    match std::env::var("CONFER_FLOOR_ROLE").as_deref() {
        Ok("forward") => forward(Duties {
            crypto: env_u64("CONFER_FLOOR_CRYPTO", 1) != 0,
            keep: env_u64("CONFER_FLOOR_KEEP", 0) as usize,
            touch: env_u64("CONFER_FLOOR_TOUCH", 0) as usize,
            state_lines: (env_u64("CONFER_FLOOR_STATE_KB", 256) as usize * 1024 / 64).max(1),
        }),
        Ok("send") => send(),
        _ => orchestrate(),
    }
}

/// One side's leg at the forwarder: where its packets go and the sessions they pass through.
struct Leg {
    to: SocketAddr,
    open: Srtp,
    seal: Srtp,
    ssrc_xor: u32,
    seq_offset: u16,
    /// `CONFER_FLOOR_KEEP`: the last video packets sent on this leg, and where the next goes.
    kept: Vec<Vec<u8>>,
    next_kept: usize,
    /// `CONFER_FLOOR_TOUCH`: the leg's state, one cycle through its cache lines in random
    /// order (each line's first word is the index of the next), and where the walk is.
    state: Vec<u64>,
    at: usize,
}

/// What the forwarder does besides receiving and sending (see the module's text).
#[derive(Clone, Copy)]
struct Duties {
    crypto: bool,
    keep: usize,
    touch: usize,
    state_lines: usize,
}

/// Words in a cache line.
const LINE_WORDS: usize = 8;

/// `lines` cache lines linked into one cycle in a random order (Sattolo's shuffle).
fn linked_lines(lines: usize, seed: u64) -> Vec<u64> {
    let mut order: Vec<usize> = (0..lines).collect();
    let mut x = seed | 1;
    for i in (1..lines).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % i as u64) as usize);
    }
    let mut state = vec![0u64; lines * LINE_WORDS];
    for (i, &line) in order.iter().enumerate() {
        state[line * LINE_WORDS] = order[(i + 1) % lines] as u64;
    }
    state
}

fn forward(duties: Duties) {
    let Duties {
        crypto,
        keep,
        touch,
        ..
    } = duties;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let std_socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        std_socket.set_nonblocking(true).expect("non-blocking");
        let sock = socket2::SockRef::from(&std_socket);
        let _ = sock.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
        let _ = sock.set_send_buffer_size(SOCKET_BUFFER_BYTES);
        set_df_without_pmtu(std_socket.as_raw_fd()).expect("IP_PMTUDISC_PROBE");
        let port = std_socket.local_addr().expect("address").port();
        let socket = tokio::net::UdpSocket::from_std(std_socket).expect("tokio socket");
        let fd = socket.as_raw_fd();
        println!("port {port}");
        std::io::stdout().flush().expect("stdout");

        let mut legs: HashMap<SocketAddr, Leg> = HashMap::new();
        let mut sides: HashMap<u32, [Option<SocketAddr>; 2]> = HashMap::new();
        let mut batch = RecvBatch::default();
        let mut out: Vec<(SocketAddr, Vec<u8>)> = Vec::with_capacity(4 * BATCH);
        let mut spare: Vec<Vec<u8>> = Vec::new();
        loop {
            if socket.readable().await.is_err() {
                return;
            }
            loop {
                let mut drained = false;
                let result = socket.try_io(tokio::io::Interest::READABLE, || {
                    let got = recv_batch(fd, &mut batch)?;
                    if got < BATCH {
                        drained = true;
                        return Err(std::io::ErrorKind::WouldBlock.into());
                    }
                    Ok(got)
                });
                for (source, data) in batch.datagrams_mut() {
                    if let Some(hello) = data.strip_prefix(HELLO.as_slice()) {
                        register(hello, source, &mut sides, &mut legs, &duties);
                        continue;
                    }
                    let Some(leg) = legs.get_mut(&source) else {
                        continue;
                    };
                    let len = if crypto {
                        match leg.open.open(data, 0) {
                            Ok(len) => len,
                            Err(_) => continue,
                        }
                    } else {
                        data.len()
                    };
                    if len < HEADER_LEN {
                        continue;
                    }
                    let mut buf = spare.pop().unwrap_or_else(|| Vec::with_capacity(RECV_BUF));
                    buf.clear();
                    buf.extend_from_slice(&data[..len]);
                    let seq = u16::from_be_bytes([buf[2], buf[3]]).wrapping_add(leg.seq_offset);
                    buf[2..4].copy_from_slice(&seq.to_be_bytes());
                    let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                    buf[8..12].copy_from_slice(&(ssrc ^ leg.ssrc_xor).to_be_bytes());
                    for _ in 0..touch {
                        leg.at = leg.state[leg.at * LINE_WORDS] as usize;
                    }
                    if keep > 0 && buf[1] & 0x7f == 96 {
                        // The ring grows to `keep` buffers, then each packet overwrites the oldest.
                        if leg.kept.len() < keep {
                            leg.kept.push(Vec::with_capacity(RECV_BUF));
                        }
                        let slot = &mut leg.kept[leg.next_kept];
                        slot.clear();
                        slot.extend_from_slice(&buf[HEADER_LEN..len]);
                        leg.next_kept = (leg.next_kept + 1) % keep;
                    }
                    if crypto {
                        buf.resize(len + TAG_LEN, 0);
                        if leg.seal.seal(&mut buf, len, 0).is_err() {
                            spare.push(buf);
                            continue;
                        }
                    }
                    out.push((leg.to, buf));
                }
                if drained || result.is_err() {
                    break;
                }
            }
            send_batch(fd, out.iter().map(|(to, buf)| (*to, buf.as_slice())));
            spare.extend(out.drain(..).map(|(_, buf)| buf));
        }
    });
}

/// A side's hello: once both sides of a visit have said theirs, each one's packets go to the
/// other, opened with its own up session and sealed with the other's down session.
fn register(
    hello: &[u8],
    source: SocketAddr,
    sides: &mut HashMap<u32, [Option<SocketAddr>; 2]>,
    legs: &mut HashMap<SocketAddr, Leg>,
    duties: &Duties,
) {
    let (Some(visit), Some(&side)) = (hello.get(..4), hello.get(4)) else {
        return;
    };
    let visit = u32::from_be_bytes([visit[0], visit[1], visit[2], visit[3]]);
    if side > 1 {
        return;
    }
    let pair = sides.entry(visit).or_default();
    pair[usize::from(side)] = Some(source);
    if let [Some(a), Some(b)] = *pair {
        for (from, to, s) in [(a, b, 0u8), (b, a, 1u8)] {
            legs.insert(
                from,
                Leg {
                    to,
                    open: session(visit, s, true),
                    seal: session(visit, 1 - s, false),
                    ssrc_xor: 0x5eed_0000 ^ visit,
                    seq_offset: 1000 + s as u16,
                    kept: Vec::new(),
                    next_kept: 0,
                    state: if duties.touch > 0 {
                        linked_lines(duties.state_lines, u64::from(visit) << 1 | u64::from(s))
                    } else {
                        Vec::new()
                    },
                    at: 0,
                },
            );
        }
    }
}

/// One side of one visit at the sender.
struct Side {
    socket: UdpSocket,
    seal: Srtp,
    open: Srtp,
    ssrc: [u32; 2],
    seq: [u16; 2],
    ts: [u32; 2],
    next: [Instant; 2],
}

fn packet(side: &mut Side, video: bool, buf: &mut Vec<u8>) -> usize {
    let k = usize::from(video);
    let payload = if video { VIDEO_PAYLOAD } else { AUDIO_PAYLOAD };
    buf.clear();
    buf.push(0x90); // version 2, extension
    buf.push(if video { 96 } else { 111 });
    buf.extend_from_slice(&side.seq[k].to_be_bytes());
    buf.extend_from_slice(&side.ts[k].to_be_bytes());
    buf.extend_from_slice(&side.ssrc[k].to_be_bytes());
    buf.extend_from_slice(&[0xbe, 0xde, 0, 2]);
    buf.extend_from_slice(&[0x22, 0x12, 0x34, 0x56, 0x31, 0x00, 0x07, 0x00]);
    buf.resize(HEADER_LEN + payload, 0xab);
    buf.resize(HEADER_LEN + payload + TAG_LEN, 0);
    side.seq[k] = side.seq[k].wrapping_add(1);
    side.ts[k] = side.ts[k].wrapping_add(if video { 3000 } else { 960 });
    side.seal
        .seal(buf, HEADER_LEN + payload, 0)
        .expect("room for the tag")
}

fn send() {
    let target: SocketAddr = std::env::var("CONFER_FLOOR_TARGET")
        .expect("CONFER_FLOOR_TARGET")
        .parse()
        .expect("an address");
    let visits = env_u64("CONFER_FLOOR_VISITS", 50) as u32;
    let warmup = Duration::from_secs(env_u64("CONFER_FLOOR_WARMUP_SECS", 3));
    let secs = Duration::from_secs(env_u64("CONFER_FLOOR_SECS", 10));
    let now = Instant::now();
    let mut sides = Vec::new();
    for visit in 0..visits {
        for s in 0..2u8 {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
            socket.set_nonblocking(true).expect("non-blocking");
            let mut hello = HELLO.to_vec();
            hello.extend_from_slice(&visit.to_be_bytes());
            hello.push(s);
            socket.send_to(&hello, target).expect("hello");
            // Spread the sides' clocks, as the load test spreads its visits' frame clocks.
            let phase = Duration::from_micros(u64::from(visit * 2 + u32::from(s)) * 7919 % 6135);
            sides.push(Side {
                socket,
                seal: session(visit, s, true),
                open: session(visit, s, false),
                ssrc: [
                    0x1000_0000 | visit << 1 | u32::from(s),
                    0x2000_0000 | visit << 1 | u32::from(s),
                ],
                seq: [0, 0],
                ts: [0, 0],
                next: [now + phase, now + phase],
            });
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now() + warmup;
    let end = start + secs;
    let (mut sent, mut received, mut verified, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut started = false;
    let mut buf = Vec::with_capacity(RECV_BUF);
    let mut rx = vec![0u8; RECV_BUF];
    let mut wake = Instant::now();
    loop {
        let now = Instant::now();
        if !started && now >= start {
            started = true;
            (sent, received, verified, failed) = (0, 0, 0, 0);
            println!("start");
            std::io::stdout().flush().expect("stdout");
        }
        if now >= end {
            break;
        }
        for side in sides.iter_mut() {
            for (k, interval) in [(0usize, AUDIO_INTERVAL), (1, VIDEO_INTERVAL)] {
                if side.next[k] + 5 * interval < now {
                    side.next[k] = now; // after a stall: restart the clock, no burst
                }
                while side.next[k] <= now {
                    let len = packet(side, k == 1, &mut buf);
                    if side.socket.send_to(&buf[..len], target).is_ok() {
                        sent += 1;
                    }
                    side.next[k] += interval;
                }
            }
        }
        for side in sides.iter_mut() {
            while let Ok(n) = side.socket.recv(&mut rx) {
                received += 1;
                if received % VERIFY_EVERY == 0 {
                    match side.open.open(&mut rx[..n], 0) {
                        Ok(_) => verified += 1,
                        Err(_) => failed += 1,
                    }
                }
            }
        }
        wake += TICK;
        let now = Instant::now();
        if wake > now {
            std::thread::sleep(wake - now);
        } else {
            wake = now;
        }
    }
    println!("end sent={sent} received={received} verified={verified} failed={failed}");
}

/// Time this process has run on a CPU, in seconds (`/proc/PID/schedstat`, nanoseconds).
fn cpu_seconds(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).expect("schedstat");
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("schedstat: run time");
    ns as f64 / 1e9
}

fn spawn(role: &str, cores: &str, envs: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("own path");
    let mut command = Command::new("taskset");
    command
        .args(["-c", cores])
        .arg(exe)
        .env("CONFER_FLOOR_ROLE", role)
        .stdout(Stdio::piped());
    for (k, v) in envs {
        command.env(k, v);
    }
    command
        .spawn()
        .expect("start (is taskset, from util-linux, installed?)")
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}

fn orchestrate() {
    let visits = env_u64("CONFER_FLOOR_VISITS", 50);
    let crypto = env_u64("CONFER_FLOOR_CRYPTO", 1) != 0;
    let keep = env_u64("CONFER_FLOOR_KEEP", 0);
    let touch = env_u64("CONFER_FLOOR_TOUCH", 0);
    let state_kb = env_u64("CONFER_FLOOR_STATE_KB", 256);
    let forward_cores = std::env::var("CONFER_FLOOR_FORWARD_CORES").unwrap_or("0".into());
    let send_cores = std::env::var("CONFER_FLOOR_SEND_CORES").unwrap_or("1".into());
    let mut forwarder = spawn(
        "forward",
        &forward_cores,
        &[
            ("CONFER_FLOOR_CRYPTO", u8::from(crypto).to_string()),
            ("CONFER_FLOOR_KEEP", keep.to_string()),
            ("CONFER_FLOOR_TOUCH", touch.to_string()),
            ("CONFER_FLOOR_STATE_KB", state_kb.to_string()),
        ],
    );
    let mut lines = BufReader::new(forwarder.stdout.take().expect("piped")).lines();
    let port_line = lines.next().expect("the forwarder's port").expect("read");
    let port = port_line
        .strip_prefix("port ")
        .and_then(|p| p.parse::<u16>().ok())
        .expect("port N");
    let mut sender = spawn(
        "send",
        &send_cores,
        &[("CONFER_FLOOR_TARGET", format!("127.0.0.1:{port}"))],
    );
    let (fpid, spid) = (forwarder.id(), sender.id());
    let mut out = BufReader::new(sender.stdout.take().expect("piped")).lines();
    let mut at_start = None;
    let mut result = None;
    for line in out.by_ref() {
        let line = line.expect("read");
        if line == "start" {
            at_start = Some((Instant::now(), cpu_seconds(fpid), cpu_seconds(spid)));
        } else if line.starts_with("end ") {
            result = Some((Instant::now(), cpu_seconds(fpid), cpu_seconds(spid), line));
        }
    }
    let _ = sender.wait();
    let _ = forwarder.kill();
    let _ = forwarder.wait();
    let (Some((t0, f0, s0)), Some((t1, f1, s1, line))) = (at_start, result) else {
        panic!("the sender did not report a window");
    };
    let (sent, received) = (field(&line, "sent"), field(&line, "received"));
    let (verified, failed) = (field(&line, "verified"), field(&line, "failed"));
    let loss = 100.0 * (1.0 - received as f64 / sent.max(1) as f64);
    let secs = (t1 - t0).as_secs_f64();
    let per = |cpu: f64| cpu * 1e6 / received.max(1) as f64;
    println!(
        "floor: {visits} visits, {}, {keep} video packets kept per leg, {touch} lines of \
         {state_kb} KiB of state read per packet, forwarder on cores {forward_cores}, sender \
         on {send_cores}",
        if crypto {
            "SRTP opened and sealed"
        } else {
            "no SRTP"
        }
    );
    println!(
        "  {received} packets forwarded in {secs:.1} s ({:.0}/s), sent {sent}, loss {loss:.3} %",
        received as f64 / secs
    );
    println!(
        "  forwarder {:.2} µs/packet ({:.1} % of a core), sender {:.2} µs/packet",
        per(f1 - f0),
        100.0 * (f1 - f0) / secs,
        per(s1 - s0)
    );
    if crypto {
        println!("  sender's check of the output: {verified} opened, {failed} did not open");
    } else {
        println!("  output not checked (forwarded without SRTP, so it does not open)");
    }
    if crypto && failed > 0 {
        panic!("the forwarder's output did not open for its receiver");
    }
}
