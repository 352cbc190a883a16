//! Runs the benchmark at its smallest size so that it cannot rot: every figure is measured once,
//! the JSON carries the documented keys, and the run ends by itself. No timing is asserted.

use std::process::Command;

use serde_json::Value;

/// The keys BENCHMARKS.md and issues #3, #4, #5 and #15 promise, each a number after a smoke run.
const NUMBERS: &[&str] = &[
    "call_p50_us",
    "tonic_p50_us",
    "floor_p50_us",
    "call_p50_vs_tonic",
    "call_p50_vs_floor",
    "inflight1_calls_per_s",
    "inflight32_calls_per_s",
    "inflight128_vs_tonic",
    "attribute_get_p50_us",
    "attribute_set_p50_us",
    "echo1k_mbps",
    "echo1m_mbps",
    "echo16m_mbps",
    "echo16m_vs_tonic",
    "echo64m_mbps",
    "handle_cycles_per_s",
    "handle_two_calls_per_s",
    "handle_cycle_vs_two_calls",
    "handle_entry_bytes",
    "nested_plain_p50_us",
    "nested_call_p50_us",
    "nested_vs_plain",
    "nested_resolve_and_call_p50_us",
    "nested_resolve_and_call_vs_plain",
    "local_call_p50_us",
    "loopback_vs_local",
    "discovery_first_call_ms",
    "connect_known_us",
    "stream_messages_per_s",
    "stream_tonic_messages_per_s",
    "stream_vs_tonic",
    "upload_mbps",
    "upload_tonic_mbps",
    "upload_vs_tonic",
    "pingpong_p50_us",
    "pingpong_tonic_p50_us",
    "pingpong_p50_vs_tonic",
    "events_per_s",
    "events_tonic_per_s",
    "events_vs_tonic",
    "events_fanout100_per_s",
    "events_fanout100_per_subscriber_per_s",
    "events_fanout100_tonic_per_s",
    "events_fanout100_vs_tonic",
    "event_latency_p50_us",
    "event_latency_p99_us",
    "event_latency_tonic_p50_us",
    "event_latency_p50_vs_tonic",
    "event_oneway_p50_us",
    "tls_call_p50_us",
    "tls_tonic_p50_us",
    "tls_call_p50_vs_tonic",
    "tls_echo16m_mbps",
    "tls_echo16m_vs_tonic",
];

#[test]
fn the_smallest_run_measures_every_figure() {
    // The benchmark would make its own namespace; making it here lets the test skip cleanly
    // where that is impossible (not root), like every test that uses mDNS.
    if let Err(error) = heros_testing::netns::enter_private_network() {
        println!("skipping: cannot enter a private network namespace: {error}");
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_heros-bench"))
        .args(["--smoke", "--json"])
        .env("HEROS_NETNS", "host")
        .output()
        .expect("heros-bench starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "heros-bench failed: {stderr}");
    assert!(stderr.contains("[12/12]"), "progress is shown on stderr: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    for key in NUMBERS {
        let value = &report[key];
        assert!(value.as_f64().is_some_and(|v| v > 0.0), "{key} = {value}");
    }
    // The Python HEROS figures and ratios are there, and null: a smoke run skips Python.
    for key in ["python_call_p50_us", "python_events_per_s", "events_vs_python"] {
        assert_eq!(report.get(key), Some(&Value::Null), "{key}");
    }
    let targets = report["targets"].as_array().expect("targets");
    assert!(targets.len() >= 4, "{targets:?}");
    for target in targets {
        let verdict = target["verdict"].as_str().unwrap();
        assert!(["met", "MISSED", "not measured"].contains(&verdict), "{target}");
    }
    assert!(report["date"].as_str().is_some_and(|d| d.len() == 10), "{}", report["date"]);
}
