use super::*;
use std::collections::HashMap;

struct Fixed {
    series: HashMap<&'static str, Series>,
    grid: Vec<i64>,
}

impl Env for Fixed {
    fn series(&self, id: &str) -> Result<Val, String> {
        self.series
            .get(id)
            .cloned()
            .map(Val::Series)
            .ok_or_else(|| format!("Unrecognized metric id '{id}'"))
    }
    fn metrics(&self) -> Vec<(String, Series)> {
        let mut v: Vec<_> = self.series.iter().map(|(k, s)| (k.to_string(), s.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
    fn grid(&self) -> Vec<i64> {
        self.grid.clone()
    }
}

fn s(points: &[(i64, f64)]) -> Series {
    points.iter().copied().collect()
}

fn env() -> Fixed {
    Fixed {
        series: HashMap::from([
            ("m1", s(&[(0, 1.0), (60, 2.0), (120, 3.0)])),
            ("m2", s(&[(0, 10.0), (120, 30.0)])),
        ]),
        grid: vec![0, 60, 120, 180],
    }
}

fn run(e: &str) -> Result<Val, String> {
    eval(&parse(e)?, &env())
}

#[test]
fn arithmetic_between_series_and_scalars() {
    assert_eq!(run("1 + 2 * 3").unwrap(), Val::Scalar(7.0));
    assert_eq!(run("(1 + 2) * 3 ^ 2").unwrap(), Val::Scalar(27.0));
    assert_eq!(
        run("-m1 + 1").unwrap(),
        Val::Series(s(&[(0, 0.0), (60, -1.0), (120, -2.0)]))
    );
    // Series with series: the common timestamps.
    assert_eq!(run("m1 + m2").unwrap(), Val::Series(s(&[(0, 11.0), (120, 33.0)])));
    assert_eq!(run("m2 / m1").unwrap(), Val::Series(s(&[(0, 10.0), (120, 10.0)])));
    // Division by zero leaves the point out.
    assert_eq!(run("m1 / 0").unwrap(), Val::Series(Series::new()));
}

#[test]
fn functions() {
    assert_eq!(
        run("SUM(METRICS())").unwrap(),
        Val::Series(s(&[(0, 11.0), (60, 2.0), (120, 33.0)]))
    );
    assert_eq!(
        run("MAX([m1, m2])").unwrap(),
        Val::Series(s(&[(0, 10.0), (60, 2.0), (120, 30.0)]))
    );
    assert_eq!(run("AVG(m1)").unwrap(), Val::Scalar(2.0));
    assert_eq!(run("MIN(m2)").unwrap(), Val::Scalar(10.0));
    assert_eq!(
        run("SUM(METRICS('2'))").unwrap(),
        Val::Series(s(&[(0, 10.0), (120, 30.0)]))
    );
    assert_eq!(
        run("RATE(m1)").unwrap(),
        Val::Series(s(&[(60, 1.0 / 60.0), (120, 1.0 / 60.0)]))
    );
    assert_eq!(
        run("FILL(m2, 0)").unwrap(),
        Val::Series(s(&[(0, 10.0), (60, 0.0), (120, 30.0), (180, 0.0)]))
    );
    assert_eq!(
        run("FILL(m2, REPEAT)").unwrap(),
        Val::Series(s(&[(0, 10.0), (60, 10.0), (120, 30.0), (180, 30.0)]))
    );
    assert_eq!(
        run("FILL(m2, LINEAR)").unwrap(),
        Val::Series(s(&[(0, 10.0), (60, 20.0), (120, 30.0), (180, 30.0)]))
    );
    assert_eq!(
        run("METRICS() * 2").unwrap(),
        Val::Array(vec![
            s(&[(0, 2.0), (60, 4.0), (120, 6.0)]),
            s(&[(0, 20.0), (120, 60.0)])
        ])
    );
}

#[test]
fn errors() {
    assert_eq!(run("m3").unwrap_err(), "Unrecognized metric id 'm3'");
    assert_eq!(run("FOO(m1)").unwrap_err(), "Unknown function FOO");
    assert_eq!(run("m1 +").unwrap_err(), "Unexpected end of expression");
    assert_eq!(run("(m1").unwrap_err(), "Expected ')'");
    assert_eq!(run("m1 $ 2").unwrap_err(), "Unrecognized character '$'");
    assert_eq!(run("SUM(m1, m2)").unwrap_err(), "SUM takes 1 argument(s)");
    assert_eq!(run("[m1, 1]").unwrap_err(), "An array holds time series only");
    let mut found = Vec::new();
    ids(&parse("SUM([a, b]) + FILL(c, 0)").unwrap(), &mut found);
    assert_eq!(found, ["a", "b", "c"]);
}
