//! The words of a validation error, in each service's form.

use super::ErrorStyle;
use super::walk::{Rule, Violation};
use crate::AwsError;

/// The error for `violations` (None when there are none).
pub(super) fn render(style: ErrorStyle, violations: &[Violation]) -> Option<AwsError> {
    let first = violations.first()?;
    Some(match style {
        ErrorStyle::Coral { code } => {
            let n = violations.len();
            let plural = if n == 1 { "error" } else { "errors" };
            let each: Vec<String> = violations.iter().map(coral).collect();
            AwsError::new(
                code,
                400,
                format!("{n} validation {plural} detected: {}", each.join("; ")),
            )
        }
        ErrorStyle::Ecr { code } => AwsError::new(
            code,
            400,
            format!(
                "Invalid parameter at '{}' failed to satisfy constraint: '{}'",
                first.path,
                rule(&first.rule, Dialect::Ecr)
            ),
        ),
    })
}

/// `Value 'FOO' at 'launchType' failed to satisfy constraint: Member must …`.
pub fn coral(v: &Violation) -> String {
    let value = match (&v.rule, &v.value) {
        (Rule::NotNull, _) => "Value null".to_string(),
        (_, Some(shown)) => format!("Value '{shown}'"),
        (_, None) => "Value".to_string(),
    };
    format!(
        "{value} at '{}' failed to satisfy constraint: {}",
        v.path,
        rule(&v.rule, Dialect::Coral)
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    Coral,
    Ecr,
}

fn rule(r: &Rule, dialect: Dialect) -> String {
    match r {
        Rule::NotNull => "Member must not be null".to_string(),
        Rule::EnumSet(values) => format!("Member must satisfy enum value set: [{}]", values.join(", ")),
        Rule::Max { max, integral } => format!(
            "Member must have value less than or equal to {}",
            bound(*max, *integral)
        ),
        Rule::Min { min, integral } => {
            format!(
                "Member must have value greater than or equal to {}",
                bound(*min, *integral)
            )
        }
        Rule::MaxLength(max) => format!("Member must have length less than or equal to {}", bound(*max, true)),
        Rule::MinLength(min) => format!("Member must have length greater than or equal to {}", bound(*min, true)),
        Rule::Pattern(p) => match dialect {
            Dialect::Coral => format!("Member must satisfy regular expression pattern: {p}"),
            Dialect::Ecr => format!("must satisfy regular expression '{p}'"),
        },
    }
}

/// A bound as Java prints it: `1000` for an integer shape, `100.0` for a double.
fn bound(b: f64, integral: bool) -> String {
    if integral {
        format!("{}", b as i64)
    } else {
        format!("{b:?}")
    }
}
