//! Scenarios: which requests a run sends (the prototype's k6 scenarios, plus a mix of them).

use serde::Serialize;

/// What a run exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// `GET /health`: the full health report (a database round trip).
    Health,
    /// `GET /api/streams?limit=20`: the first page of the list.
    List,
    /// `GET /api/streams/{id}` over streams created before the run.
    Get,
    /// `POST /api/streams`: a valid create (201), one durable commit each.
    Create,
    /// A read-heavy mix: 10 % health, 20 % list, 60 % get, 10 % create.
    Mixed,
}

/// One kind of request, with its expected status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// `GET /health` → 200.
    Health,
    /// `GET /api/streams?limit=20` → 200.
    List,
    /// `GET /api/streams/{id}` → 200.
    Get,
    /// `POST /api/streams` → 201.
    Create,
}

/// Every request kind, in report order.
pub const ALL_KINDS: [RequestKind; 4] = [
    RequestKind::Health,
    RequestKind::List,
    RequestKind::Get,
    RequestKind::Create,
];

/// The mixed scenario's weights, in percent (they sum to 100).
pub const MIX: [(RequestKind, u64); 4] = [
    (RequestKind::Health, 10),
    (RequestKind::List, 20),
    (RequestKind::Get, 60),
    (RequestKind::Create, 10),
];

/// The page size of the list requests.
pub const LIST_LIMIT: u32 = 20;

/// A valid sender account (the fixture's treasury).
pub const SENDER: &str = "GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV";
/// A valid recipient account (the fixture's recipient).
pub const RECIPIENT: &str = "GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA";

/// The create body: 1000 units at 0.001 per second from now (amounts are decimal strings;
/// `startTime` defaults to the request time, `endTime` to start + deposit / rate).
pub const CREATE_BODY: &str = concat!(
    r#"{"sender":"GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV","#,
    r#""recipient":"GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA","#,
    r#""depositAmount":"1000","ratePerSecond":"0.001"}"#
);

impl Scenario {
    /// The scenario's name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Health => "health",
            Scenario::List => "list",
            Scenario::Get => "get",
            Scenario::Create => "create",
            Scenario::Mixed => "mixed",
        }
    }

    /// The request kinds the scenario sends.
    pub fn kinds(self) -> Vec<RequestKind> {
        match self {
            Scenario::Health => vec![RequestKind::Health],
            Scenario::List => vec![RequestKind::List],
            Scenario::Get => vec![RequestKind::Get],
            Scenario::Create => vec![RequestKind::Create],
            Scenario::Mixed => ALL_KINDS.to_vec(),
        }
    }

    /// Whether the run needs streams to exist first: `get` and `mixed` read them, and `list`
    /// should return full pages rather than an empty list.
    pub fn needs_streams(self) -> bool {
        matches!(self, Scenario::List | Scenario::Get | Scenario::Mixed)
    }

    /// The kind of the `index`-th request of the run: deterministic, so a run is reproducible,
    /// and spread evenly for the mix (a hash of the index against [`MIX`]'s weights).
    pub fn kind_for(self, index: u64) -> RequestKind {
        match self {
            Scenario::Health => RequestKind::Health,
            Scenario::List => RequestKind::List,
            Scenario::Get => RequestKind::Get,
            Scenario::Create => RequestKind::Create,
            Scenario::Mixed => {
                let mut point = mix64(index) % 100;
                for (kind, weight) in MIX {
                    if point < weight {
                        return kind;
                    }
                    point -= weight;
                }
                RequestKind::Get
            }
        }
    }
}

impl RequestKind {
    /// The kind's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Health => "health",
            RequestKind::List => "list",
            RequestKind::Get => "get",
            RequestKind::Create => "create",
        }
    }

    /// The route, for reports.
    pub fn route(self) -> &'static str {
        match self {
            RequestKind::Health => "GET /health",
            RequestKind::List => "GET /api/streams?limit=20",
            RequestKind::Get => "GET /api/streams/{id}",
            RequestKind::Create => "POST /api/streams",
        }
    }

    /// The status of a successful answer; any other status is an error.
    pub fn expected_status(self) -> u16 {
        match self {
            RequestKind::Create => 201,
            _ => 200,
        }
    }

    /// Position in [`ALL_KINDS`].
    pub fn index(self) -> usize {
        match self {
            RequestKind::Health => 0,
            RequestKind::List => 1,
            RequestKind::Get => 2,
            RequestKind::Create => 3,
        }
    }
}

/// Which of `count` pre-created streams the `index`-th request reads (`count` > 0).
pub fn stream_for(index: u64, count: usize) -> usize {
    let count = count.max(1) as u64;
    // A different hash stream from `kind_for`, so a mix does not read only some ids.
    (mix64(index ^ 0x9e37_79b9_7f4a_7c15) % count) as usize
}

/// SplitMix64's finaliser: a fast, well-spread hash of a counter.
fn mix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_weights_sum_to_100() {
        assert_eq!(MIX.iter().map(|(_, w)| w).sum::<u64>(), 100);
    }

    #[test]
    fn single_scenarios_send_one_kind() {
        for (scenario, kind) in [
            (Scenario::Health, RequestKind::Health),
            (Scenario::List, RequestKind::List),
            (Scenario::Get, RequestKind::Get),
            (Scenario::Create, RequestKind::Create),
        ] {
            assert_eq!(scenario.kinds(), [kind]);
            assert!((0..1000).all(|i| scenario.kind_for(i) == kind));
        }
    }

    #[test]
    fn the_mix_follows_its_weights() {
        let mut counts = [0u64; 4];
        for i in 0..100_000 {
            counts[Scenario::Mixed.kind_for(i).index()] += 1;
        }
        for (kind, weight) in MIX {
            let share = counts[kind.index()] as f64 / 1000.0; // percent
            assert!(
                (share - weight as f64).abs() < 1.0,
                "{kind:?}: {share} % instead of {weight} %"
            );
        }
        // Deterministic.
        assert_eq!(
            Scenario::Mixed.kind_for(12345),
            Scenario::Mixed.kind_for(12345)
        );
    }

    #[test]
    fn reads_spread_over_every_stream() {
        let mut seen = [0u32; 50];
        for i in 0..10_000 {
            seen[stream_for(i, 50)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
        assert_eq!(stream_for(7, 1), 0);
        assert_eq!(stream_for(7, 0), 0);
    }

    #[test]
    fn expected_statuses() {
        assert_eq!(RequestKind::Create.expected_status(), 201);
        for kind in [RequestKind::Health, RequestKind::List, RequestKind::Get] {
            assert_eq!(kind.expected_status(), 200);
        }
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }

    #[test]
    fn the_create_body_is_a_valid_request() {
        let body: serde_json::Value = serde_json::from_str(CREATE_BODY).unwrap();
        assert_eq!(body["sender"], SENDER);
        assert_eq!(body["recipient"], RECIPIENT);
        assert_eq!(body["depositAmount"], "1000");
        assert_eq!(body["ratePerSecond"], "0.001");
        assert!(Scenario::Get.needs_streams() && Scenario::Mixed.needs_streams());
        assert!(!Scenario::Create.needs_streams() && !Scenario::Health.needs_streams());
    }
}
