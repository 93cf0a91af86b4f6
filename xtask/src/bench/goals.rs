//! The goals table: every row `cargo xtask bench` reports, what it is measured against, its goal, and the
//! verdict.

use super::results::Results;

#[derive(Clone, Copy)]
pub(super) enum Goal {
    /// The ratio is at most this.
    RatioAtMost(f64),
    /// The ratio is at least this.
    RatioAtLeast(f64),
    /// The measured time is at most this many ns.
    NsAtMost(f64),
    /// The measured count is exactly this.
    Exactly(f64),
    /// The measured value (a count or bytes) is at most this.
    AtMost(f64),
    /// No goal: shown for context.
    Context,
}

pub(super) enum Verdict {
    Met,
    Missed(String),
    NotMeasured,
    Context,
}

/// What a row shows in its measured and baseline columns.
#[derive(Clone, Copy)]
pub(super) enum Unit {
    Ns,
    Count,
    Bytes,
    OpsPerSecond,
}

impl Unit {
    /// `value` in this unit, as the report shows it.
    pub(super) fn show(self, value: f64) -> String {
        match self {
            Unit::Ns if value < 1_000.0 => format!("{value:.1} ns"),
            Unit::Ns if value < 1_000_000.0 => format!("{:.1} µs", value / 1e3),
            Unit::Ns => format!("{:.2} ms", value / 1e6),
            Unit::Count if value.fract() == 0.0 => format!("{value:.0}"),
            Unit::Count => format!("{value:.2}"),
            Unit::Bytes => format!("{value:.0} B"),
            Unit::OpsPerSecond => format!("{:.1} M/s", value / 1e6),
        }
    }
}

pub(super) struct Row {
    pub(super) section: &'static str,
    pub(super) metric: String,
    pub(super) measured: Option<f64>,
    pub(super) baseline: Option<f64>,
    /// The baseline's name, shown with its value.
    pub(super) baseline_name: &'static str,
    pub(super) unit: Unit,
    pub(super) goal: Goal,
    /// Why a missed goal may say more about the machine than the code, when it may.
    pub(super) caveat: Option<String>,
}

impl Row {
    fn new(section: &'static str, metric: impl Into<String>, measured: Option<f64>, unit: Unit, goal: Goal) -> Self {
        Row { section, metric: metric.into(), measured, baseline: None, baseline_name: "", unit, goal, caveat: None }
    }

    fn against(mut self, baseline_name: &'static str, baseline: Option<f64>) -> Self {
        self.baseline_name = baseline_name;
        self.baseline = baseline;
        self
    }

    fn caveat(mut self, caveat: Option<String>) -> Self {
        self.caveat = caveat;
        self
    }

    pub(super) fn ratio(&self) -> Option<f64> {
        match (self.measured, self.baseline) {
            (Some(m), Some(b)) if b > 0.0 => Some(m / b),
            _ => None,
        }
    }

    pub(super) fn verdict(&self) -> Verdict {
        let Some(measured) = self.measured else { return Verdict::NotMeasured };
        match self.goal {
            Goal::Context => Verdict::Context,
            Goal::RatioAtMost(goal) => match self.ratio() {
                None => Verdict::NotMeasured,
                Some(r) if r <= goal => Verdict::Met,
                Some(r) => Verdict::Missed(format!("{:.0} %", (r / goal - 1.0) * 100.0)),
            },
            Goal::RatioAtLeast(goal) => match self.ratio() {
                None => Verdict::NotMeasured,
                Some(r) if r >= goal => Verdict::Met,
                Some(r) => Verdict::Missed(format!("{:.0} %", (1.0 - r / goal) * 100.0)),
            },
            Goal::NsAtMost(goal) if measured <= goal => Verdict::Met,
            Goal::NsAtMost(goal) => Verdict::Missed(format!("{:.0} %", (measured / goal - 1.0) * 100.0)),
            Goal::AtMost(goal) if measured <= goal => Verdict::Met,
            Goal::AtMost(goal) => Verdict::Missed(format!("{:.0} %", (measured / goal - 1.0) * 100.0)),
            Goal::Exactly(goal) if (measured - goal).abs() < f64::EPSILON => Verdict::Met,
            Goal::Exactly(_) => Verdict::Missed(format!("{} instead", self.unit.show(measured))),
        }
    }
}

/// Every row, in the order of the page's list of what each row measures.
pub(super) fn rows(r: &Results) -> Vec<Row> {
    use Goal::*;
    use Unit::*;
    let mut rows = Vec::new();

    // 1. Assertions.
    // The peer is jsonwebtoken on its aws_lc_rs backend, the one a speed-minded user picks.
    for (alg, group, peer_goal) in [("ES256", "es256", 0.9), ("PS256", "ps256", 1.0)] {
        let assertion = r.median(&[&format!("{group}/assertion")]);
        rows.push(
            Row::new("1", format!("{alg} assertion ÷ bare ring signature"), assertion, Ns, RatioAtMost(1.05))
                .against("ring", r.median(&[&format!("{group}/ring_sign")])),
        );
        rows.push(
            Row::new(
                "1",
                format!("{alg} assertion ÷ jsonwebtoken::encode (aws_lc_rs backend)"),
                assertion,
                Ns,
                RatioAtMost(peer_goal),
            )
            .against("jsonwebtoken", r.median(&[&format!("{group}/jsonwebtoken_encode")])),
        );
    }

    // A key that never leaves its token (td-oauth-pkcs11 over SoftHSM2), against the same key in memory.
    rows.push(
        Row::new(
            "1",
            "ES256 assertion signed inside SoftHSM2 ÷ the same key in memory (context)",
            r.median(&["pkcs11_es256/softhsm_assertion"]),
            Ns,
            Context,
        )
        .against("in memory", r.median(&["pkcs11_es256/memory_assertion"])),
    );

    // 2. Response parsing.
    rows.push(
        Row::new(
            "2",
            "token response parse ÷ bare serde_json",
            r.median(&["response/from_http"]),
            Ns,
            RatioAtMost(1.3),
        )
        .against("serde_json", r.median(&["response/serde_json_bare"])),
    );
    rows.push(
        Row::new(
            "2",
            "token response parse ÷ bare serde_json + wiping the token on drop (context)",
            r.median(&["response/from_http"]),
            Ns,
            Context,
        )
        .against("serde_json + wipe", r.median(&["response/serde_json_bare_zeroizing"])),
    );

    // 3. Warm hits.
    rows.push(Row::new(
        "3",
        "warm hit, async `token().await`",
        r.median(&["warm_hit/token().await", "warm_hit/token"]),
        Ns,
        NsAtMost(100.0),
    ));
    rows.push(Row::new(
        "3",
        "warm hit, async `try_token_now()`",
        r.median(&["warm_hit/try_token_now()", "warm_hit/try_token_now"]),
        Ns,
        NsAtMost(100.0),
    ));
    rows.push(Row::new(
        "3",
        "warm hit, blocking `token()`",
        r.median(&["provider_warm_hit", "provider/warm_hit", "warm_hit/token()"]),
        Ns,
        NsAtMost(100.0),
    ));
    for (name, file) in [("async", "herd-reqwest.json"), ("blocking", "herd-ureq.json")] {
        // Each core's threads get their own copy of the warm token, so `token()` touches no reference count
        // another core writes: it should scale with the cores as lending does, which only a machine whose
        // nothing-shared control scales can show.
        let private = match (
            r.custom(file, &["throughput", "private_two_threads_ops_per_s"]),
            r.custom(file, &["throughput", "private_one_thread_ops_per_s"]),
        ) {
            (Some(two), Some(one)) if one > 0.0 => Some(two / one),
            _ => None,
        };
        let inconclusive = |control: f64| {
            (control < 1.9).then(|| {
                format!("inconclusive: work with nothing shared reached only {control:.2} ×, below the 1.9 × this goal needs")
            })
        };
        for (what, key) in [
            ("warm hits (`token()`)", ""),
            ("warm hits lent (`with_token`)", "lent_"),
            ("`token()` and a bearer request's header", "bearer_"),
        ] {
            rows.push(
                Row::new(
                    "3",
                    format!("{what}, {name}: 2 threads ÷ 1 thread (throughput)"),
                    r.custom(file, &["throughput", &format!("{key}two_threads_ops_per_s")]),
                    OpsPerSecond,
                    RatioAtLeast(1.8),
                )
                .against("1 thread", r.custom(file, &["throughput", &format!("{key}one_thread_ops_per_s")]))
                .caveat(private.and_then(inconclusive)),
            );
        }
        for (control, key) in
            [("nothing shared", "private"), ("one shared `Arc`", "shared_arc"), ("`arc_swap` guard", "guard")]
        {
            rows.push(
                Row::new(
                    "3",
                    format!("control for the above, {name}: {control}, 2 threads ÷ 1"),
                    r.custom(file, &["throughput", &format!("{key}_two_threads_ops_per_s")]),
                    OpsPerSecond,
                    Context,
                )
                .against("1 thread", r.custom(file, &["throughput", &format!("{key}_one_thread_ops_per_s")])),
            );
        }
    }

    // 4. Cold fetches.
    rows.push(
        Row::new(
            "4",
            "cold fetch ÷ bare POST, reqwest (Basic)",
            r.median(&["loopback_fetch/Client__fetch", "loopback_fetch/fetch", "fetch/client_fetch"]),
            Ns,
            RatioAtMost(1.10),
        )
        .against("bare POST", r.median(&["loopback_fetch/bare POST", "loopback_fetch/bare_post"])),
    );
    rows.push(
        Row::new("4", "cold fetch ÷ bare POST, ureq (Basic)", r.median(&["fetch/client_fetch"]), Ns, RatioAtMost(1.10))
            .against("bare POST", r.median(&["fetch/bare_post"])),
    );
    rows.push(
        Row::new(
            "4",
            "cold fetch ÷ bare POST, ureq (signed JWT)",
            r.median(&["fetch_jwt/client_fetch"]),
            Ns,
            RatioAtMost(1.10),
        )
        .against("bare POST", r.median(&["fetch_jwt/bare_post"])),
    );

    // 5. Thundering herd.
    for (name, file) in [("reqwest", "herd-reqwest.json"), ("ureq", "herd-ureq.json")] {
        rows.push(Row::new(
            "5",
            format!("herd of 1,000, {name}: token requests (worst round)"),
            r.custom(file, &["herd", "requests_max"]),
            Count,
            Exactly(1.0),
        ));
        rows.push(
            Row::new(
                "5",
                format!("herd of 1,000, {name}: last token ÷ one fetch"),
                r.custom(file, &["herd", "cold_ns"]),
                Ns,
                RatioAtMost(1.5),
            )
            .against("one fetch", r.custom(file, &["herd", "single_fetch_ns"])),
        );
        rows.push(
            Row::new(
                "5",
                format!("herd of 1,000, {name}: the same herd on a warm cache (context: no fetch at all)"),
                r.custom(file, &["herd", "warm_ns"]),
                Ns,
                Context,
            )
            .against("one fetch", r.custom(file, &["herd", "single_fetch_ns"])),
        );
        let floor = match (r.custom(file, &["herd", "single_fetch_ns"]), r.custom(file, &["herd", "warm_ns"])) {
            (Some(fetch), Some(warm)) => Some(fetch + warm),
            _ => None,
        };
        rows.push(
            Row::new(
                "5",
                format!("herd of 1,000, {name}: last token ÷ (one fetch + warm herd)"),
                r.custom(file, &["herd", "cold_ns"]),
                Ns,
                RatioAtMost(1.05),
            )
            .against("sum", floor),
        );
    }

    // 6. Memory.
    for (alg, key) in [("ES256", "es256"), ("PS256", "ps256")] {
        for (what, field, unit) in [("allocations", "allocations", Count), ("bytes", "bytes", Bytes)] {
            rows.push(
                Row::new(
                    "6",
                    format!("{alg} assertion: heap {what}"),
                    r.custom("memory-core.json", &[&format!("{key}_assertion"), field]),
                    unit,
                    Context,
                )
                .against("ring", r.custom("memory-core.json", &[&format!("{key}_ring_sign"), field])),
            );
        }
    }
    rows.push(Row::new(
        "6",
        "token response parse: heap allocations",
        r.custom("memory-core.json", &["response_from_http", "allocations"]),
        Count,
        Context,
    ));
    for (name, file) in [("async `token().await`", "memory-reqwest.json"), ("blocking `token()`", "memory-ureq.json")] {
        rows.push(Row::new(
            "6",
            format!("warm hit, {name}: heap allocations"),
            r.custom(file, &["warm_hit", "allocations"]),
            Count,
            Exactly(0.0),
        ));
    }

    // 7. Fleet cache, for each transport.
    for (name, prefix) in [("async", ""), ("blocking", "blocking_")] {
        let in_process = r.median(&[&format!("fleet/{prefix}in_process_warm")]);
        rows.push(
            Row::new(
                "7",
                format!("fleet cache, {name}: warm hit ÷ in-process warm hit"),
                r.median(&[&format!("fleet/{prefix}fleet_warm")]),
                Ns,
                RatioAtMost(1.1),
            )
            .against("in-process", in_process),
        );
        rows.push(
            Row::new(
                "7",
                format!("fleet cache, {name}: cold hit (one Redis round trip) ÷ in-process warm hit (context)"),
                r.median(&[&format!("fleet/{prefix}fleet_cold")]),
                Ns,
                Context,
            )
            .against("in-process", in_process),
        );
    }

    // 8. Key parsing.
    for (alg, group) in [("ES256", "key_es256"), ("PS256 (RSA 2048)", "key_rsa2048")] {
        rows.push(
            Row::new(
                "8",
                format!("{alg} key from DER ÷ ring's from_pkcs8 of the same bytes"),
                r.median(&[&format!("{group}/from_der")]),
                Ns,
                RatioAtMost(1.10),
            )
            .against("ring", r.median(&[&format!("{group}/ring_from_pkcs8")])),
        );
    }
    rows.push(
        Row::new(
            "8",
            "ES256 key from Talkdesk's one-line Base64 ÷ ring's from_pkcs8 of its DER (context)",
            r.median(&["key_es256/parse_base64"]),
            Ns,
            Context,
        )
        .against("ring", r.median(&["key_es256/ring_from_pkcs8"])),
    );
    // 9. The partner-app manager at 10,000 installations.
    let manager = "manager-reqwest.json";
    rows.push(
        Row::new(
            "9",
            "manager at 10,000 installations: warm `token()` of one installation ÷ the provider's warm hit",
            r.custom(manager, &["warm_one_ns"]),
            Ns,
            RatioAtMost(3.0),
        )
        .against("provider", r.custom(manager, &["provider_warm_ns"])),
    );
    rows.push(
        Row::new(
            "9",
            "manager at 10,000 installations: warm `token()` through every installation in turn ÷ the same 10,000 \
             providers held and asked in turn (context: both touch memory no longer in cache)",
            r.custom(manager, &["warm_cycling_ns"]),
            Ns,
            Context,
        )
        .against("held providers", r.custom(manager, &["providers_cycling_ns"])),
    );
    rows.push(
        Row::new(
            "9",
            "manager at 10,000 installations: warm `token()` through every installation in turn ÷ the provider's \
             warm hit (context: the memory a call touches is no longer in cache)",
            r.custom(manager, &["warm_cycling_ns"]),
            Ns,
            Context,
        )
        .against("provider", r.custom(manager, &["provider_warm_ns"])),
    );
    rows.push(Row::new(
        "9",
        "manager at 10,000 installations: warm `token()`, heap allocations",
        r.custom(manager, &["warm_allocations"]),
        Count,
        Exactly(0.0),
    ));
    rows.push(Row::new(
        "9",
        "manager: heap bytes per installation after install",
        r.custom(manager, &["heap_per_installation"]),
        Bytes,
        AtMost(1500.0),
    ));
    rows.push(Row::new(
        "9",
        "manager: heap bytes per installation with its provider and token (context)",
        r.custom(manager, &["heap_per_installation_with_token"]),
        Bytes,
        Context,
    ));
    rows.push(
        Row::new(
            "9",
            "manager: a new provider into a full map of 10,000 ÷ one into a map with room",
            r.custom(manager, &["new_provider_full_ns"]),
            Ns,
            RatioAtMost(2.0),
        )
        .against("map with room", r.custom(manager, &["new_provider_empty_ns"])),
    );

    // 9. The fleet's manager over an installation store (a MemoryStore), against the in-process one.
    let fleet = "fleet-reqwest.json";
    rows.push(
        Row::new(
            "9",
            "fleet manager at 10,000 installations: warm `token()` of one installation ÷ the in-process manager's",
            r.custom(fleet, &["warm_one_ns"]),
            Ns,
            RatioAtMost(1.2),
        )
        .against("in-process", r.custom(fleet, &["in_process_warm_one_ns"])),
    );
    rows.push(
        Row::new(
            "9",
            "fleet manager at 10,000 installations: warm `token()` through every installation in turn ÷ the \
             in-process manager's",
            r.custom(fleet, &["warm_cycling_ns"]),
            Ns,
            RatioAtMost(1.2),
        )
        .against("in-process", r.custom(fleet, &["in_process_warm_cycling_ns"])),
    );
    rows.push(
        Row::new(
            "9",
            "fleet manager: a replica's first token for an installation it never saw (one store read + one fetch) \
             ÷ a plain first fetch (context)",
            r.custom(fleet, &["first_token_ns"]),
            Ns,
            Context,
        )
        .against("plain fetch", r.custom(fleet, &["plain_fetch_ns"])),
    );
    rows.push(Row::new(
        "9",
        "fleet manager: heap bytes per installation held, after reading its record",
        r.custom(fleet, &["heap_per_installation"]),
        Bytes,
        AtMost(1500.0),
    ));
    rows.push(Row::new(
        "9",
        "fleet manager: heap bytes per installation held, with its provider and token (context)",
        r.custom(fleet, &["heap_per_installation_with_token"]),
        Bytes,
        Context,
    ));

    // 10. `td-oauth agent` over its Unix socket.
    let agent = "agent.json";
    rows.push(Row::new(
        "10",
        "agent, 50 clients × 200 requests over its socket: token requests (one lifetime)",
        r.custom(agent, &["load", "token_requests"]),
        Count,
        Exactly(1.0),
    ));
    for (what, key, bare) in [("median", "median_ns", "bare_median_ns"), ("99th percentile", "p99_ns", "bare_p99_ns")] {
        rows.push(
            Row::new(
                "10",
                format!(
                    "agent, 50 clients × 200 requests over its socket: {what} latency ÷ a bare answer of the same size"
                ),
                r.custom(agent, &["load", key]),
                Ns,
                RatioAtMost(1.5),
            )
            .against("bare hyper", r.custom(agent, &["load", bare])),
        );
    }
    rows.push(
        Row::new(
            "10",
            "agent: resident memory after 100,000 requests ÷ after 1,000",
            r.custom(agent, &["memory", "rss_kb_after_100000"]).map(|kb| kb * 1024.0),
            Bytes,
            RatioAtMost(1.10),
        )
        .against("after 1,000", r.custom(agent, &["memory", "rss_kb_after_1000"]).map(|kb| kb * 1024.0)),
    );

    // 11. A page of an API list.
    for (name, group) in [("reqwest", "api_page_async"), ("ureq", "api_page")] {
        rows.push(
            Row::new(
                "11",
                format!("a page through ApiClient ÷ bare GET of that page, {name}"),
                r.median(&[&format!("{group}/client_page")]),
                Ns,
                RatioAtMost(1.2),
            )
            .against("bare GET", r.median(&[&format!("{group}/bare_get")])),
        );
        rows.push(
            Row::new(
                "11",
                format!("a three-page list through ApiClient ÷ bare GET of one page, {name} (context)"),
                r.median(&[&format!("{group}/paginate_3_pages")]),
                Ns,
                Context,
            )
            .against("bare GET", r.median(&[&format!("{group}/bare_get")])),
        );
    }

    rows
}
