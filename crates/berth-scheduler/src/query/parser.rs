//! The recursive-descent parser ([`parse_expression`]): tokens to an [`Expr`],
//! with errors that name the offending token and its position.

use super::ast::{
    Argument, Condition, Expr, MAX_DEPTH, MAX_EXPRESSION_LEN, Operator, Pattern, QueryError, Subject, Typed, Value,
};
use super::eval::{parse_time, parse_version};
use super::tokenizer::{Tok, Token, tokenize};

/// Parses a cluster query language expression.
///
/// Errors carry a message a person can act on, naming the offending token
/// and its 1-based character position.
pub fn parse_expression(input: &str) -> Result<Expr, QueryError> {
    let len = input.chars().count();
    if len > MAX_EXPRESSION_LEN {
        return Err(QueryError::at(
            0,
            format!("the expression is {len} characters long; the maximum is {MAX_EXPRESSION_LEN}"),
        ));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(QueryError::at(0, "the expression is empty"));
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
        end: len + 1,
    };
    let expr = parser.parse_or()?;
    if let Some(tok) = parser.peek() {
        let message = if tok.tok == Tok::RParen {
            format!("unexpected ')' at position {}; there is no matching '('", tok.pos)
        } else {
            format!(
                "unexpected token {} at position {}; expected 'and', 'or' or the end of the expression",
                tok.tok, tok.pos
            )
        };
        return Err(QueryError::at(tok.pos, message));
    }
    Ok(expr)
}

// ------------------------------------------------------------------- parser

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
    /// Position just past the last character.
    end: usize,
}

fn is_keyword(tok: &Tok, word: &str) -> bool {
    matches!(tok, Tok::Word(w) if w.eq_ignore_ascii_case(word))
}

const SUBJECTS: &str =
    "agentConnected, agentVersion, attribute:NAME, ec2InstanceId, registeredAt, runningTasksCount or task:group";

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.next).cloned();
        if t.is_some() {
            self.next += 1;
        }
        t
    }

    fn eat(&mut self, f: impl Fn(&Tok) -> bool) -> bool {
        match self.peek() {
            Some(t) if f(&t.tok) => {
                self.next += 1;
                true
            }
            _ => false,
        }
    }

    fn end_position(&self) -> usize {
        self.end
    }

    fn enter(&mut self, pos: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::at(
                pos,
                format!("the expression nests parentheses and 'not' more than {MAX_DEPTH} deep at position {pos}"),
            ));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.parse_and()?];
        while self.eat(|t| *t == Tok::OrOr || is_keyword(t, "or")) {
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.parse_unary()?];
        while self.eat(|t| *t == Tok::AndAnd || is_keyword(t, "and")) {
            items.push(self.parse_unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, QueryError> {
        if let Some(t) = self.peek()
            && (t.tok == Tok::Bang || is_keyword(&t.tok, "not"))
        {
            let pos = t.pos;
            self.next += 1;
            self.enter(pos)?;
            let inner = self.parse_unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Expr, QueryError> {
        let Some(token) = self.bump() else {
            let pos = self.end_position();
            return Err(QueryError::at(
                pos,
                format!("the expression ends at position {pos} where a condition was expected (subject: {SUBJECTS})"),
            ));
        };
        match token.tok {
            Tok::LParen => {
                self.enter(token.pos)?;
                let inner = self.parse_or()?;
                self.depth -= 1;
                match self.bump() {
                    Some(Token { tok: Tok::RParen, .. }) => Ok(inner),
                    Some(other) => Err(QueryError::at(
                        other.pos,
                        format!(
                            "unexpected token {} at position {}; expected ')' to close the '(' at position {}",
                            other.tok, other.pos, token.pos
                        ),
                    )),
                    None => Err(QueryError::at(
                        token.pos,
                        format!("missing ')' to close the '(' at position {}", token.pos),
                    )),
                }
            }
            Tok::Word(word) => self.parse_condition(&word, token.pos),
            other => Err(QueryError::at(
                token.pos,
                format!(
                    "unexpected token {other} at position {}; expected a condition such as 'attribute:ecs.instance-type == t2.small' (subject: {SUBJECTS})",
                    token.pos
                ),
            )),
        }
    }

    fn parse_subject(word: &str, pos: usize) -> Result<Subject, QueryError> {
        const FIXED: [(&str, Subject); 6] = [
            ("agentConnected", Subject::AgentConnected),
            ("agentVersion", Subject::AgentVersion),
            ("ec2InstanceId", Subject::Ec2InstanceId),
            ("registeredAt", Subject::RegisteredAt),
            ("runningTasksCount", Subject::RunningTasksCount),
            ("task:group", Subject::TaskGroup),
        ];
        if let Some((_, s)) = FIXED.iter().find(|(n, _)| n.eq_ignore_ascii_case(word)) {
            return Ok(s.clone());
        }
        if let Some(prefix) = word.get(..10)
            && prefix.eq_ignore_ascii_case("attribute:")
        {
            let name = &word[10..];
            if name.is_empty() {
                return Err(QueryError::at(
                    pos,
                    format!(
                        "missing attribute name after 'attribute:' at position {pos}, e.g. attribute:ecs.instance-type"
                    ),
                ));
            }
            return Ok(Subject::Attribute(name.to_string()));
        }
        Err(QueryError::at(
            pos,
            format!("unknown subject '{word}' at position {pos}; expected {SUBJECTS}"),
        ))
    }

    fn parse_operator(&mut self, subject: &Subject) -> Result<(Operator, usize), QueryError> {
        let Some(token) = self.bump() else {
            let pos = self.end_position();
            return Err(QueryError::at(
                pos,
                format!("the expression ends at position {pos}; expected an operator after '{subject}'"),
            ));
        };
        let op = match &token.tok {
            Tok::EqEq => Some(Operator::Eq),
            Tok::NotEq => Some(Operator::Ne),
            Tok::Gt => Some(Operator::Gt),
            Tok::Ge => Some(Operator::Ge),
            Tok::Lt => Some(Operator::Lt),
            Tok::Le => Some(Operator::Le),
            Tok::Match => Some(Operator::Matches),
            Tok::NotMatch => Some(Operator::NotMatches),
            Tok::Bang => {
                if self.eat(|t| is_keyword(t, "exists")) {
                    Some(Operator::NotExists)
                } else if self.eat(|t| is_keyword(t, "in")) {
                    Some(Operator::NotIn)
                } else {
                    return Err(QueryError::at(
                        token.pos,
                        format!(
                            "'!' at position {} must be followed by 'exists' or 'in' here",
                            token.pos
                        ),
                    ));
                }
            }
            Tok::Word(w) => {
                const WORDS: [(&str, Operator); 12] = [
                    ("equals", Operator::Eq),
                    ("not_equals", Operator::Ne),
                    ("greater_than", Operator::Gt),
                    ("greater_than_equal", Operator::Ge),
                    ("less_than", Operator::Lt),
                    ("less_than_equal", Operator::Le),
                    ("exists", Operator::Exists),
                    ("not_exists", Operator::NotExists),
                    ("in", Operator::In),
                    ("not_in", Operator::NotIn),
                    ("matches", Operator::Matches),
                    ("not_matches", Operator::NotMatches),
                ];
                WORDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(w)).map(|(_, op)| *op)
            }
            _ => None,
        };
        let Some(op) = op else {
            return Err(QueryError::at(
                token.pos,
                format!(
                    "unexpected token {} at position {}; expected an operator after '{subject}' (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~)",
                    token.tok, token.pos
                ),
            ));
        };
        let allowed = allowed_operators(subject);
        if !allowed.contains(&op) {
            let list: Vec<String> = allowed.iter().map(|o| o.to_string()).collect();
            return Err(QueryError::at(
                token.pos,
                format!(
                    "operator '{op}' at position {} can't be used with '{subject}'; valid operators: {}",
                    token.pos,
                    list.join(", ")
                ),
            ));
        }
        Ok((op, token.pos))
    }

    fn parse_value_token(&mut self, after: &str) -> Result<(String, usize), QueryError> {
        match self.bump() {
            Some(Token {
                tok: Tok::Word(w) | Tok::Quoted(w),
                pos,
            }) => Ok((w, pos)),
            Some(other) => Err(QueryError::at(
                other.pos,
                format!(
                    "unexpected token {} at position {}; expected a value after {after} (quote values that contain special characters)",
                    other.tok, other.pos
                ),
            )),
            None => {
                let pos = self.end_position();
                Err(QueryError::at(
                    pos,
                    format!("the expression ends at position {pos}; expected a value after {after}"),
                ))
            }
        }
    }

    fn parse_condition(&mut self, word: &str, pos: usize) -> Result<Expr, QueryError> {
        let subject = Self::parse_subject(word, pos)?;
        let (operator, op_pos) = self.parse_operator(&subject)?;
        let after = format!("'{operator}' at position {op_pos}");
        let argument = match operator {
            Operator::Exists | Operator::NotExists => Argument::None,
            Operator::In | Operator::NotIn => {
                let close = match self.bump() {
                    Some(Token { tok: Tok::LBracket, .. }) => Tok::RBracket,
                    Some(Token { tok: Tok::LParen, .. }) => Tok::RParen,
                    Some(other) => {
                        return Err(QueryError::at(
                            other.pos,
                            format!(
                                "unexpected token {} at position {}; expected a list such as [a, b] after {after}",
                                other.tok, other.pos
                            ),
                        ));
                    }
                    None => {
                        let end = self.end_position();
                        return Err(QueryError::at(
                            end,
                            format!(
                                "the expression ends at position {end}; expected a list such as [a, b] after {after}"
                            ),
                        ));
                    }
                };
                let mut values = Vec::new();
                loop {
                    let (text, vpos) = self.parse_value_token(&after)?;
                    values.push(typed_value(&subject, text, vpos)?);
                    match self.bump() {
                        Some(Token { tok: Tok::Comma, .. }) => continue,
                        Some(t) if t.tok == close => break,
                        Some(other) => {
                            return Err(QueryError::at(
                                other.pos,
                                format!(
                                    "unexpected token {} at position {}; expected ',' or {} in the list after {after}",
                                    other.tok, other.pos, close
                                ),
                            ));
                        }
                        None => {
                            let end = self.end_position();
                            return Err(QueryError::at(
                                end,
                                format!("the list after {after} is missing its closing {close}"),
                            ));
                        }
                    }
                }
                Argument::List(values)
            }
            Operator::Matches | Operator::NotMatches => {
                let (source, vpos) = self.parse_value_token(&after)?;
                let regex = regex::RegexBuilder::new(&format!("^(?:{source})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        let detail = e.to_string();
                        let last = detail.lines().last().unwrap_or("").trim().to_string();
                        QueryError::at(
                            vpos,
                            format!(
                                "invalid regular expression '{source}' at position {vpos} ({last}); patterns match the whole value, use '.*' as a wildcard, e.g. t2.*"
                            ),
                        )
                    })?;
                Argument::Pattern(Pattern { source, regex })
            }
            _ => {
                let (text, vpos) = self.parse_value_token(&after)?;
                Argument::Value(typed_value(&subject, text, vpos)?)
            }
        };
        Ok(Expr::Condition(Condition {
            subject,
            operator,
            argument,
        }))
    }
}

fn allowed_operators(subject: &Subject) -> &'static [Operator] {
    use Operator::*;
    match subject {
        Subject::AgentConnected | Subject::Ec2InstanceId => &[Eq, Ne, In, NotIn, Matches, NotMatches],
        Subject::AgentVersion | Subject::RegisteredAt | Subject::RunningTasksCount => &[Eq, Ne, Gt, Ge, Lt, Le],
        Subject::TaskGroup => &[Eq, Ne, In, NotIn, Matches, NotMatches, Exists, NotExists],
        Subject::Attribute(_) => &[
            Eq, Ne, Gt, Ge, Lt, Le, Exists, NotExists, In, NotIn, Matches, NotMatches,
        ],
    }
}

fn typed_value(subject: &Subject, text: String, pos: usize) -> Result<Value, QueryError> {
    let typed = match subject {
        Subject::RunningTasksCount => Typed::Number(text.parse().map_err(|_| {
            QueryError::at(
                pos,
                format!(
                    "'{text}' at position {pos} is not a whole number; runningTasksCount compares with numbers such as 1"
                ),
            )
        })?),
        Subject::RegisteredAt => {
            let (start, end) = parse_time(&text).ok_or_else(|| {
                QueryError::at(
                    pos,
                    format!(
                        "'{text}' at position {pos} is not a valid date; use 2018-06-18T22:28:28Z, 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28 or 2018-06-18"
                    ),
                )
            })?;
            Typed::Time { start, end }
        }
        Subject::AgentVersion => Typed::Version(parse_version(&text).ok_or_else(|| {
            QueryError::at(
                pos,
                format!(
                    "'{text}' at position {pos} is not a valid agent version; use dotted numbers such as 1.14.5"
                ),
            )
        })?),
        Subject::AgentConnected => {
            if text.eq_ignore_ascii_case("true") {
                Typed::Bool(true)
            } else if text.eq_ignore_ascii_case("false") {
                Typed::Bool(false)
            } else {
                return Err(QueryError::at(
                    pos,
                    format!("'{text}' at position {pos} is not valid for agentConnected; use true or false"),
                ));
            }
        }
        Subject::Attribute(_) | Subject::Ec2InstanceId | Subject::TaskGroup => Typed::Text,
    };
    Ok(Value { text, typed })
}
