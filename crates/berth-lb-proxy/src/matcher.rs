//! A health check's success codes (`Matcher.HttpCode`): single codes and
//! ranges separated by commas, such as `200`, `200,204` or `200-299`.

use std::fmt;

/// Parsed success codes: inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    ranges: Vec<(u16, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid success codes {0:?}: expected codes or ranges such as 200,202 or 200-299")]
pub struct MatcherError(pub String);

impl Matcher {
    /// ALB's default: 200.
    pub fn ok_200() -> Matcher {
        Matcher {
            ranges: vec![(200, 200)],
        }
    }

    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let bad = || MatcherError(text.into());
        let code = |s: &str| s.trim().parse::<u16>().map_err(|_| bad());
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let (low, high) = match part.split_once('-') {
                Some((a, b)) => (code(a)?, code(b)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if low > high || !(100..=599).contains(&low) || high > 599 {
                return Err(bad());
            }
            ranges.push((low, high));
        }
        Ok(Matcher { ranges })
    }

    pub fn accepts(&self, status: u16) -> bool {
        self.ranges.iter().any(|&(l, h)| (l..=h).contains(&status))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (l, h)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if l == h {
                write!(f, "{l}")?;
            } else {
                write!(f, "{l}-{h}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
