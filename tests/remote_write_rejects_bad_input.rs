//! Malformed remote_write requests are refused with 400 and a message naming the
//! problem, nothing is stored from them, and the server keeps serving.

mod common;

use common::*;
use pharos_ingest::remote_write::proto;

fn one_series(labels: &[(&str, &str)]) -> Vec<u8> {
    // Built by hand so the labels stay in the (possibly wrong) order given.
    encode_proto(&proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| proto::Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: vec![proto::Sample {
                value: 1.0,
                timestamp: 1_700_000_000_000,
            }],
            exemplars: vec![],
        }],
        metadata: vec![],
    })
}

#[test]
fn remote_write_rejects_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, None);
    let client = client();
    let url = server.url("");

    let valid = one_series(&[("__name__", "ok"), ("job", "x")]);
    let truncated = valid[..valid.len() / 2].to_vec();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage body",
            b"this is not a remote write request".to_vec(),
            "snappy",
        ),
        ("truncated snappy", truncated, "snappy"),
        (
            "garbage protobuf",
            snappy(b"\x0a\xff\xff\xff\xff\x0f garbage"),
            "protobuf",
        ),
        (
            "unsorted labels",
            one_series(&[("__name__", "m"), ("zone", "1"), ("app", "2")]),
            "not sorted",
        ),
        (
            "duplicate labels",
            one_series(&[("__name__", "m"), ("job", "1"), ("job", "2")]),
            "duplicate label name",
        ),
        (
            "invalid label name",
            one_series(&[("__name__", "m"), ("bad-name", "1")]),
            "invalid label name",
        ),
    ];
    for (what, body, want) in &cases {
        let resp = post_write(&client, &url, body.clone()).unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        assert_eq!(status, 400, "{what}: {text}");
        assert!(text.contains(want), "{what}: expected {want:?} in {text:?}");
    }

    // Still serving, and still storing good data.
    let resp = client.get(server.url("/-/healthy")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = post_write(&client, &url, valid).unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let refused = metric_value(
        &client,
        &server,
        "pharos_http_requests_total{handler=\"/api/v1/write\",code=\"400\"}",
    );
    assert_eq!(refused, Some(cases.len() as f64));
    server.stop();

    let dumped = dump(&data, &[]);
    assert_eq!(dumped.len(), 1, "only the valid request stored: {dumped:?}");
    assert_eq!(dumped[0].series, "ok{job=\"x\"}");
}
