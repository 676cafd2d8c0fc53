use super::*;

fn healthy(n: usize) -> Vec<Candidate> {
    vec![
        Candidate {
            routable: Routable::Healthy,
            weight: FULL_WEIGHT,
            outstanding: 0,
        };
        n
    ]
}

fn picks(b: &mut Balancer, algorithm: Algorithm, c: &[Candidate], n: usize) -> Vec<usize> {
    (0..n).map(|_| b.pick(algorithm, c).unwrap()).collect()
}

#[test]
fn round_robin_takes_each_healthy_target_in_turn() {
    let mut b = Balancer::default();
    let mut c = healthy(3);
    assert_eq!(picks(&mut b, Algorithm::RoundRobin, &c, 6), [0, 1, 2, 0, 1, 2]);
    c[1].routable = Routable::FailOpen;
    let got = picks(&mut b, Algorithm::RoundRobin, &c, 4);
    assert!(
        !got.contains(&1),
        "an unhealthy target gets nothing while one is healthy: {got:?}"
    );
    c[0].routable = Routable::No;
    assert_eq!(picks(&mut b, Algorithm::RoundRobin, &c, 2), [2, 2]);
}

#[test]
fn all_unhealthy_fails_open_but_never_to_draining() {
    let mut b = Balancer::default();
    let mut c = healthy(3);
    for x in &mut c {
        x.routable = Routable::FailOpen;
    }
    c[2].routable = Routable::No;
    let got = picks(&mut b, Algorithm::RoundRobin, &c, 4);
    assert_eq!(got, [0, 1, 0, 1]);
    c[0].routable = Routable::No;
    c[1].routable = Routable::No;
    assert_eq!(b.pick(Algorithm::RoundRobin, &c), None);
    assert_eq!(b.pick(Algorithm::RoundRobin, &[]), None);
}

#[test]
fn slow_start_weights_share_in_proportion() {
    let mut b = Balancer::default();
    let mut c = healthy(2);
    c[1].weight = FULL_WEIGHT / 4;
    let got = picks(&mut b, Algorithm::RoundRobin, &c, 500);
    let second = got.iter().filter(|&&i| i == 1).count();
    assert_eq!(second, 100, "a quarter weight is 1 in 5 picks");
}

#[test]
fn least_outstanding_prefers_the_idlest_and_rotates_ties() {
    let mut b = Balancer::default();
    let mut c = healthy(3);
    c[0].outstanding = 4;
    c[1].outstanding = 1;
    c[2].outstanding = 2;
    assert_eq!(b.pick(Algorithm::LeastOutstandingRequests, &c), Some(1));
    c[1].outstanding = 2;
    let got = picks(&mut b, Algorithm::LeastOutstandingRequests, &c, 2);
    assert_eq!(got, [2, 1]);
}

#[test]
fn slow_start_ramps_linearly_from_one_percent() {
    let d = Duration::from_secs(100);
    assert_eq!(slow_start_weight(Duration::ZERO, d), 10);
    assert_eq!(slow_start_weight(Duration::from_secs(50), d), 500);
    assert_eq!(slow_start_weight(Duration::from_secs(100), d), FULL_WEIGHT);
    assert_eq!(slow_start_weight(Duration::from_secs(1), Duration::ZERO), FULL_WEIGHT);
}

#[test]
fn even_rolls_split_every_run_of_requests_by_weight() {
    let w = [250u32, 750];
    let total = 1000;
    for start in [0u64, 17, 1_000_003] {
        for len in [40u64, 100, 150, 400] {
            let first = (start..start + len)
                .filter(|t| weighted_group(w.iter().copied(), even_roll(*t, total)) == Some(0))
                .count() as f64;
            // Within two requests of the weight's share, whatever the run.
            assert!((first - 0.25 * len as f64).abs() <= 2.0, "{start}+{len}: {first}");
        }
    }
    // A canary of 10 % out of 1000.
    let canary = (0..400u64)
        .filter(|t| weighted_group([900u32, 100].iter().copied(), even_roll(*t, 1000)) == Some(1))
        .count();
    assert!((38..=42).contains(&canary), "{canary}");
}

#[test]
fn weighted_groups_split_the_rolls() {
    let w = [80u32, 20, 0];
    let mut counts = [0; 3];
    for roll in 0..100u64 {
        counts[weighted_group(w.iter().copied(), roll).unwrap()] += 1;
    }
    assert_eq!(counts, [80, 20, 0]);
    assert_eq!(weighted_group([0u32, 0].iter().copied(), 5), None);
}
