//! `Verifier::verify` on 1 KiB and 256 KiB bodies, beside one plain SHA-256 pass over the same
//! bytes (the floor: HMAC over a body costs about one SHA-256 pass). Results and the exact
//! command are in docs/benchmarks.md.
//!
//! ```sh
//! cargo bench -p fluxora-webhooks --bench verify -- --warm-up-time 1 --measurement-time 3
//! ```

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fluxora_webhooks::{sign, FixedClock, Verifier};
use sha2::{Digest, Sha256};

const NOW: u64 = 1_710_000_000;

fn bench_verify(c: &mut Criterion) {
    let verifier = Verifier::new("topsecret").with_clock(FixedClock(NOW));
    let mut group = c.benchmark_group("verify");
    for (label, size) in [("1KiB", 1024usize), ("256KiB", 262_144)] {
        let body: Vec<u8> = (0..size).map(|i| b"{\"a\":1}"[i % 7]).collect();
        let signature = sign(b"topsecret", NOW, &body);
        let headers = [
            (
                "x-fluxora-delivery-id",
                "0190f1e0-7c1a-7d3e-9f00-000000000001",
            ),
            ("x-fluxora-timestamp", "1710000000"),
            ("x-fluxora-signature", signature.as_str()),
            ("x-fluxora-event", "stream.updated"),
        ];
        assert!(verifier.verify(headers, &body).is_ok());
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("verify", label), &body, |b, body| {
            b.iter(|| {
                verifier
                    .verify(black_box(headers), black_box(body))
                    .unwrap()
            });
        });
        group.bench_with_input(BenchmarkId::new("sha256", label), &body, |b, body| {
            b.iter(|| Sha256::digest(black_box(body)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
