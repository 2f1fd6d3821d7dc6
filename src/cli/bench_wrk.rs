//! `laras bench webhooks --wrk`: the load comes from `wrk`, a separate process, as an
//! operator's load test would drive a deployed server.
//!
//! `wrk` cannot compute `X-Hub-Signature-256`, so the deliveries are signed beforehand: one
//! line a delivery (`<signature> <body>`) in a file its Lua script reads, each thread
//! taking every `threads`-th line from its own offset. The file holds more deliveries than
//! the run can send; a run that reaches its end is reported (`wrapped`), since repeats are
//! answered as duplicates, which cost less.

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// What `wrk` reported for one endpoint.
#[derive(serde::Serialize, Debug, PartialEq)]
pub struct WrkRun {
    pub requests_per_s: f64,
    pub requests: u64,
    /// Answers that were not 2xx or 3xx, and socket errors.
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum WrkError {
    #[error("cannot run wrk (install it: apt-get install -y wrk): {0}")]
    Spawn(std::io::Error),
    #[error("wrk failed: {0}")]
    Failed(String),
    #[error("wrk's report has no {0}")]
    Unreadable(&'static str),
    #[error("cannot write wrk's script or deliveries: {0}")]
    Io(#[from] std::io::Error),
}

const SCRIPT: &str = r#"
local counter = 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end
local sigs, bodies, i, step = {}, {}, 0, 1
function init(args)
  for line in io.lines(args[1]) do
    local sig, body = line:match("^(%S+) (.*)$")
    sigs[#sigs + 1] = sig
    bodies[#bodies + 1] = body
  end
  step = tonumber(args[2])
  i = offset
end
function request()
  local k = (i % #bodies) + 1
  i = i + step
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = sigs[k]}, bodies[k])
end
"#;

/// Writes `deliveries` (signature and body pairs) and the script into `dir`.
pub fn prepare(dir: &Path, deliveries: impl Iterator<Item = (String, String)>) -> Result<usize, WrkError> {
    std::fs::write(dir.join("webhooks.lua"), SCRIPT)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("deliveries.txt"))?);
    let mut n = 0;
    for (signature, body) in deliveries {
        writeln!(out, "{signature} {body}")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// Runs `wrk` against `url` (with the prepared deliveries when `dir` is given).
pub fn run(
    url: &str,
    threads: usize,
    connections: usize,
    seconds: f64,
    dir: Option<&Path>,
) -> Result<WrkRun, WrkError> {
    let mut command = Command::new("wrk");
    command.args([
        format!("-t{threads}"),
        format!("-c{connections}"),
        format!("-d{}s", seconds.ceil() as u64),
        "--latency".into(),
    ]);
    if let Some(dir) = dir {
        command.arg("-s").arg(dir.join("webhooks.lua"));
    }
    command.arg(url);
    if let Some(dir) = dir {
        command.arg("--").arg(dir.join("deliveries.txt")).arg(threads.to_string());
    }
    let output = command.output().map_err(WrkError::Spawn)?;
    let report = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(WrkError::Failed(format!("{report}{}", String::from_utf8_lossy(&output.stderr))));
    }
    parse(&report)
}

/// Reads `wrk --latency`'s text report.
pub fn parse(report: &str) -> Result<WrkRun, WrkError> {
    let after = |prefix: &str| report.lines().map(str::trim).find_map(|l| l.strip_prefix(prefix).map(str::trim));
    let requests_per_s =
        after("Requests/sec:").and_then(|v| v.parse().ok()).ok_or(WrkError::Unreadable("Requests/sec"))?;
    let requests = report
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or(WrkError::Unreadable("request count"))?;
    let non_2xx: u64 = after("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    let socket_errors: u64 = after("Socket errors:")
        .map(|v| v.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    let p50_ms = after("50%").and_then(millis).ok_or(WrkError::Unreadable("50% latency"))?;
    let p99_ms = after("99%").and_then(millis).ok_or(WrkError::Unreadable("99% latency"))?;
    let max_ms = after("Latency")
        .and_then(|v| v.split_whitespace().nth(2))
        .and_then(millis)
        .ok_or(WrkError::Unreadable("maximum latency"))?;
    Ok(WrkRun { requests_per_s, requests, failed: non_2xx + socket_errors, p50_ms, p99_ms, max_ms })
}

/// `wrk`'s durations: `812.00us`, `3.41ms`, `1.02s`, `2.00m`.
fn millis(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 10s test @ http://127.0.0.1:8080/webhooks/meta
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    22.05ms   10.11ms   1.02s    90.12%
    Req/Sec     1.47k   120.33     1.80k    70.00%
  Latency Distribution
     50%   20.10ms
     75%   25.00ms
     90%   31.00ms
     99%  812.00us
  29412 requests in 10.01s, 2.71MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   2938.06
Transfer/sec:    277.19KB
";

    #[test]
    fn a_wrk_report_is_read_with_its_units() {
        let run = parse(REPORT).expect("parses");
        assert_eq!(
            run,
            WrkRun {
                requests_per_s: 2938.06,
                requests: 29412,
                failed: 12,
                p50_ms: 20.1,
                p99_ms: 0.812,
                max_ms: 1020.0
            }
        );
    }

    #[test]
    fn a_report_without_a_rate_is_an_error_not_a_zero() {
        assert!(matches!(parse("unable to connect to 127.0.0.1:1"), Err(WrkError::Unreadable(_))));
    }
}
