//! The metric-math subset of GetMetricData's `Expression`, parsed and
//! evaluated without IO: numbers and query ids, `+ - * / ^` between
//! series and scalars (a series with a series pairs their common
//! timestamps), parentheses, `[a, b]` arrays, `METRICS()` (every MetricStat
//! query, or those whose id contains the string given), `SUM`, `AVG`,
//! `MIN`, `MAX` (of an array: a series, timestamp by timestamp; of a
//! series: a scalar), `FILL(m, value | REPEAT | LINEAR)` over the query's
//! periods, and `RATE(m)` (change per second between consecutive points).

use std::collections::BTreeMap;

/// A time series: value by timestamp (epoch seconds).
pub type Series = BTreeMap<i64, f64>;

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Scalar(f64),
    Series(Series),
    Array(Vec<Series>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Id(String),
    Text(String),
    Neg(Box<Expr>),
    Binary(char, Box<Expr>, Box<Expr>),
    Array(Vec<Expr>),
    Call(String, Vec<Expr>),
}

/// What an expression reads: the series of other queries, the MetricStat
/// series for `METRICS()`, and the period timestamps `FILL` fills.
pub trait Env {
    fn series(&self, id: &str) -> Result<Val, String>;
    /// `(id, series)` of every MetricStat query.
    fn metrics(&self) -> Vec<(String, Series)>;
    fn grid(&self) -> Vec<i64>;
}

/// The query ids an expression names.
pub fn ids(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Id(id) => out.push(id.clone()),
        Expr::Neg(a) => ids(a, out),
        Expr::Binary(_, a, b) => {
            ids(a, out);
            ids(b, out);
        }
        Expr::Array(items) | Expr::Call(_, items) => items.iter().for_each(|i| ids(i, out)),
        Expr::Number(_) | Expr::Text(_) => {}
    }
}

// === parsing ===

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Word(String),
    Text(String),
    Sym(char),
}

fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Tok::Num(text.parse().map_err(|_| format!("Invalid number '{text}'"))?));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or("Unterminated string")?;
            out.push(Tok::Text(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if "+-*/^(),[]".contains(c) {
            out.push(Tok::Sym(c));
            i += 1;
        } else {
            return Err(format!("Unrecognized character '{c}'"));
        }
    }
    Ok(out)
}

/// Parses an expression.
pub fn parse(s: &str) -> Result<Expr, String> {
    let toks = tokens(s)?;
    let mut p = Parser { toks, at: 0 };
    let e = p.sum()?;
    if p.at != p.toks.len() {
        return Err(format!("Unexpected token at position {}", p.at + 1));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek_sym(&self, c: char) -> bool {
        self.toks.get(self.at) == Some(&Tok::Sym(c))
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.peek_sym(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("Expected '{c}'"))
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut e = self.product()?;
        while let Some(Tok::Sym(c @ ('+' | '-'))) = self.toks.get(self.at).cloned() {
            self.at += 1;
            e = Expr::Binary(c, Box::new(e), Box::new(self.product()?));
        }
        Ok(e)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut e = self.power()?;
        while let Some(Tok::Sym(c @ ('*' | '/'))) = self.toks.get(self.at).cloned() {
            self.at += 1;
            e = Expr::Binary(c, Box::new(e), Box::new(self.power()?));
        }
        Ok(e)
    }

    fn power(&mut self) -> Result<Expr, String> {
        let base = self.unary()?;
        if self.peek_sym('^') {
            self.at += 1;
            return Ok(Expr::Binary('^', Box::new(base), Box::new(self.power()?)));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_sym('-') {
            self.at += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn list(&mut self, close: char) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        if self.peek_sym(close) {
            self.at += 1;
            return Ok(items);
        }
        loop {
            items.push(self.sum()?);
            if self.peek_sym(',') {
                self.at += 1;
            } else {
                self.expect(close)?;
                return Ok(items);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let tok = self.toks.get(self.at).cloned().ok_or("Unexpected end of expression")?;
        self.at += 1;
        match tok {
            Tok::Num(n) => Ok(Expr::Number(n)),
            Tok::Text(t) => Ok(Expr::Text(t)),
            Tok::Sym('(') => {
                let e = self.sum()?;
                self.expect(')')?;
                Ok(e)
            }
            Tok::Sym('[') => Ok(Expr::Array(self.list(']')?)),
            Tok::Word(w) if self.peek_sym('(') => {
                self.at += 1;
                let args = self.list(')')?;
                Ok(Expr::Call(w, args))
            }
            Tok::Word(w) if w == "REPEAT" || w == "LINEAR" => Ok(Expr::Text(w)),
            Tok::Word(w) => Ok(Expr::Id(w)),
            Tok::Sym(c) => Err(format!("Unexpected '{c}'")),
        }
    }
}

// === evaluation ===

/// Evaluates `e` in `env`.
pub fn eval(e: &Expr, env: &dyn Env) -> Result<Val, String> {
    match e {
        Expr::Number(n) => Ok(Val::Scalar(*n)),
        Expr::Id(id) => env.series(id),
        Expr::Text(t) => Err(format!("Unexpected string '{t}'")),
        Expr::Neg(a) => binary('*', Val::Scalar(-1.0), eval(a, env)?),
        Expr::Binary(op, a, b) => binary(*op, eval(a, env)?, eval(b, env)?),
        Expr::Array(items) => {
            let mut out = Vec::new();
            for i in items {
                match eval(i, env)? {
                    Val::Series(s) => out.push(s),
                    Val::Array(a) => out.extend(a),
                    Val::Scalar(_) => return Err("An array holds time series only".into()),
                }
            }
            Ok(Val::Array(out))
        }
        Expr::Call(f, args) => call(f, args, env),
    }
}

fn apply(op: char, a: f64, b: f64) -> f64 {
    match op {
        '+' => a + b,
        '-' => a - b,
        '*' => a * b,
        '/' => a / b,
        _ => a.powf(b),
    }
}

fn map_series(s: &Series, f: impl Fn(f64) -> f64) -> Series {
    s.iter()
        .map(|(t, v)| (*t, f(*v)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

fn binary(op: char, a: Val, b: Val) -> Result<Val, String> {
    Ok(match (a, b) {
        (Val::Scalar(x), Val::Scalar(y)) => Val::Scalar(apply(op, x, y)),
        (Val::Series(s), Val::Scalar(y)) => Val::Series(map_series(&s, |v| apply(op, v, y))),
        (Val::Scalar(x), Val::Series(s)) => Val::Series(map_series(&s, |v| apply(op, x, v))),
        (Val::Series(s), Val::Series(t)) => Val::Series(
            s.iter()
                .filter_map(|(ts, v)| Some((*ts, apply(op, *v, *t.get(ts)?))))
                .filter(|(_, v)| v.is_finite())
                .collect(),
        ),
        (Val::Array(a), other) => Val::Array(
            a.into_iter()
                .map(|s| match binary(op, Val::Series(s), other.clone()) {
                    Ok(Val::Series(s)) => Ok(s),
                    Ok(_) => Err("An array may be combined with a scalar or a time series only".to_string()),
                    Err(e) => Err(e),
                })
                .collect::<Result<_, _>>()?,
        ),
        (other @ (Val::Scalar(_) | Val::Series(_)), Val::Array(a)) => Val::Array(
            a.into_iter()
                .map(|s| match binary(op, other.clone(), Val::Series(s)) {
                    Ok(Val::Series(s)) => Ok(s),
                    Ok(_) => Err("An array may be combined with a scalar or a time series only".to_string()),
                    Err(e) => Err(e),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn reduce(values: &[f64], f: &str) -> f64 {
    match f {
        "SUM" => values.iter().sum(),
        "AVG" => values.iter().sum::<f64>() / values.len() as f64,
        "MIN" => values.iter().copied().fold(f64::INFINITY, f64::min),
        _ => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

fn call(f: &str, args: &[Expr], env: &dyn Env) -> Result<Val, String> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("{f} takes {n} argument(s)"))
        }
    };
    match f {
        "METRICS" => {
            let filter = match args {
                [] => None,
                [Expr::Text(t)] => Some(t.as_str()),
                _ => return Err("METRICS takes an optional string".into()),
            };
            Ok(Val::Array(
                env.metrics()
                    .into_iter()
                    .filter(|(id, _)| filter.is_none_or(|t| id.contains(t)))
                    .map(|(_, s)| s)
                    .collect(),
            ))
        }
        "SUM" | "AVG" | "MIN" | "MAX" => {
            arity(1)?;
            match eval(&args[0], env)? {
                Val::Scalar(x) => Ok(Val::Scalar(x)),
                Val::Series(s) => {
                    let values: Vec<f64> = s.values().copied().collect();
                    Ok(Val::Scalar(if values.is_empty() {
                        f64::NAN
                    } else {
                        reduce(&values, f)
                    }))
                }
                Val::Array(a) => {
                    let mut by_ts: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                    for s in &a {
                        for (t, v) in s {
                            by_ts.entry(*t).or_default().push(*v);
                        }
                    }
                    Ok(Val::Series(
                        by_ts.into_iter().map(|(t, vs)| (t, reduce(&vs, f))).collect(),
                    ))
                }
            }
        }
        "RATE" => {
            arity(1)?;
            match eval(&args[0], env)? {
                Val::Series(s) => Ok(Val::Series(rate(&s))),
                Val::Array(a) => Ok(Val::Array(a.iter().map(rate).collect())),
                Val::Scalar(_) => Err("RATE takes a time series".into()),
            }
        }
        "FILL" => {
            arity(2)?;
            let how = match &args[1] {
                Expr::Text(t) if t == "REPEAT" => Fill::Repeat,
                Expr::Text(t) if t == "LINEAR" => Fill::Linear,
                other => match eval(other, env)? {
                    Val::Scalar(x) => Fill::Value(x),
                    _ => return Err("FILL takes a number, REPEAT or LINEAR".into()),
                },
            };
            let grid = env.grid();
            match eval(&args[0], env)? {
                Val::Series(s) => Ok(Val::Series(fill(&s, &grid, how))),
                Val::Array(a) => Ok(Val::Array(a.iter().map(|s| fill(s, &grid, how)).collect())),
                Val::Scalar(_) => Err("FILL takes a time series".into()),
            }
        }
        _ => Err(format!("Unknown function {f}")),
    }
}

/// The change per second between each point and the one before it.
pub fn rate(s: &Series) -> Series {
    s.iter()
        .zip(s.iter().skip(1))
        .map(|((t0, v0), (t1, v1))| (*t1, (v1 - v0) / (t1 - t0) as f64))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    Value(f64),
    Repeat,
    Linear,
}

/// `s` with a value at every timestamp of `grid`: the one given, the last
/// one before (REPEAT; the first after at the start), or the straight line
/// between the neighbours (LINEAR; REPEAT beyond the ends).
pub fn fill(s: &Series, grid: &[i64], how: Fill) -> Series {
    let mut out = s.clone();
    for &t in grid {
        if s.contains_key(&t) {
            continue;
        }
        let before = s.range(..t).next_back();
        let after = s.range(t..).next();
        let v = match (how, before, after) {
            (Fill::Value(x), _, _) => Some(x),
            (Fill::Linear, Some((t0, v0)), Some((t1, v1))) => Some(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64),
            (_, Some((_, v)), _) | (_, None, Some((_, v))) => Some(*v),
            (_, None, None) => None,
        };
        if let Some(v) = v {
            out.insert(t, v);
        }
    }
    out
}

#[cfg(test)]
#[path = "math_tests.rs"]
mod tests;
