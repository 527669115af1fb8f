//! The server's CPU time and resident memory, read from `/proc/PID` (Linux only).
//!
//! **Owns**: parsing `/proc/PID/stat` (utime + stime of every thread of the process) and
//! `/proc/PID/status` (`VmRSS`). **Does not**: attach to, signal or otherwise touch the
//! server process.

use anyhow::{bail, Context};
use std::path::PathBuf;

/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`): fixed at 100 by the Linux ABI on
/// every architecture this runs on (it is not the kernel's `HZ`).
const USER_HZ: f64 = 100.0;

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// User + system CPU time of the whole process, in seconds (10 ms resolution).
    pub cpu_s: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// Reads one process's counters.
#[derive(Debug, Clone)]
pub struct ProcSampler {
    dir: PathBuf,
}

impl ProcSampler {
    pub fn new(pid: u32) -> anyhow::Result<Self> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let sampler = ProcSampler { dir };
        sampler
            .sample()
            .with_context(|| format!("cannot read the server's counters (pid {pid})"))?;
        Ok(sampler)
    }

    pub fn sample(&self) -> anyhow::Result<Sample> {
        let stat = std::fs::read_to_string(self.dir.join("stat"))?;
        let status = std::fs::read_to_string(self.dir.join("status"))?;
        Ok(Sample {
            cpu_s: parse_cpu_ticks(&stat)? as f64 / USER_HZ,
            rss_bytes: parse_rss_bytes(&status)?,
        })
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted after its closing `)`.
pub fn parse_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let after = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 1..))
        .context("malformed /proc/PID/stat")?;
    // After ')' comes field 3 (state); utime is field 14, i.e. index 11 here.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
        bail!("malformed /proc/PID/stat: too few fields");
    };
    Ok(utime.parse::<u64>()? + stime.parse::<u64>()?)
}

/// `VmRSS` of `/proc/PID/status`, in bytes.
pub fn parse_rss_bytes(status: &str) -> anyhow::Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/PID/status")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("malformed VmRSS line")?
        .parse()?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_a_command_name_with_spaces() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 325);
        assert!(parse_cpu_ticks("garbage").is_err());
    }

    #[test]
    fn rss_is_read_in_bytes() {
        let status = "Name:\tconfer\nVmRSS:\t   20480 kB\nThreads:\t4\n";
        assert_eq!(parse_rss_bytes(status).unwrap(), 20480 * 1024);
    }

    #[test]
    fn our_own_process_can_be_sampled() {
        let s = ProcSampler::new(std::process::id())
            .unwrap()
            .sample()
            .unwrap();
        assert!(s.rss_bytes > 0);
    }
}
