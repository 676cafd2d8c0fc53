//! Cluster query language: every operator and form of the AWS examples,
//! and the error messages of malformed expressions.

use berth_scheduler::{InstanceView, TaskOnInstance, parse_expression};

/// i-abcd1234 in us-east-1a, t2.small, linux, agent 1.14.5, registered
/// 2018-06-18T22:28:28Z, running one task of `service:production`.
fn small() -> InstanceView {
    let mut i = InstanceView::new("arn:ci/small", "i-abcd1234", 1024, 2048)
        .with_attribute("ecs.instance-type", Some("t2.small"))
        .with_attribute("ecs.availability-zone", Some("us-east-1a"))
        .with_attribute("ecs.os-type", Some("linux"))
        .with_attribute("stack", Some("prod"))
        .with_attribute("gpus", Some("4"))
        .with_attribute("ecs.capability.privileged-container", None);
    i.agent_version = Some("1.14.5".into());
    i.registered_at = 1_529_360_908; // 2018-06-18T22:28:28Z
    std::sync::Arc::make_mut(&mut i.tasks).push(TaskOnInstance {
        group: "service:production".into(),
        ..Default::default()
    });
    i
}

/// i-wxyx7890 in us-east-1d, g2.2xlarge, disconnected, no tasks.
fn gpu() -> InstanceView {
    let mut i = InstanceView::new("arn:ci/gpu", "i-wxyx7890", 8192, 15360)
        .with_attribute("ecs.instance-type", Some("g2.2xlarge"))
        .with_attribute("ecs.availability-zone", Some("us-east-1d"))
        .with_attribute("gpus", Some("16"));
    i.agent_connected = false;
    i.agent_version = Some("1.9.0".into());
    i.registered_at = 1_600_000_000; // 2020-09-13
    i
}

/// Evaluates `expr` on (small, gpu).
fn eval(expr: &str) -> (bool, bool) {
    let e = parse_expression(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    (e.matches(&small()), e.matches(&gpu()))
}

fn err(expr: &str) -> String {
    match parse_expression(expr) {
        Ok(e) => panic!("{expr} parsed as {e}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn aws_doc_examples() {
    assert_eq!(eval("attribute:ecs.instance-type == t2.small"), (true, false));
    assert_eq!(
        eval("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"),
        (true, false)
    );
    assert_eq!(eval("task:group == service:production"), (true, false));
    assert_eq!(eval("not(task:group == database)"), (true, true));
    assert_eq!(eval("runningTasksCount == 1"), (true, false));
    assert_eq!(eval("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']"), (true, true));
    assert_eq!(
        eval("attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d"),
        (false, false)
    );
    assert_eq!(
        eval("attribute:ecs.instance-type =~ g2.* or attribute:ecs.availability-zone != us-east-1d"),
        (true, true)
    );
    assert_eq!(eval("attribute:ecs.instance-type =~ t2.*"), (true, false));
    assert_eq!(eval("attribute:stack exists"), (true, false));
    assert_eq!(eval("attribute:ecs.os-type == linux"), (true, false));
    assert_eq!(eval("attribute:stack == prod"), (true, false));
    assert_eq!(
        eval("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890'] or attribute:ecs.instance-type =~ g2.*"),
        (true, true)
    );
    assert_eq!(eval("agentConnected == false"), (false, true));
    assert_eq!(eval("agentVersion < 1.14.0"), (false, true));
    assert_eq!(eval("registeredAt < 2019-01-01"), (true, false));
}

#[test]
fn equality_operators() {
    assert_eq!(eval("attribute:stack == prod"), (true, false));
    assert_eq!(eval("attribute:stack equals prod"), (true, false));
    assert_eq!(
        eval("attribute:stack != prod"),
        (false, true),
        "missing attribute satisfies !="
    );
    assert_eq!(eval("attribute:stack not_equals prod"), (false, true));
    assert_eq!(eval("ec2InstanceId == i-wxyx7890"), (false, true));
    assert_eq!(eval("ec2InstanceId != i-wxyx7890"), (true, false));
}

#[test]
fn ordering_operators_compare_numbers_numerically() {
    assert_eq!(eval("attribute:gpus > 8"), (false, true), "4 < 8 < 16 numerically");
    assert_eq!(eval("attribute:gpus greater_than 8"), (false, true));
    assert_eq!(eval("attribute:gpus >= 4"), (true, true));
    assert_eq!(eval("attribute:gpus greater_than_equal 5"), (false, true));
    assert_eq!(eval("attribute:gpus < 16"), (true, false));
    assert_eq!(eval("attribute:gpus less_than 5"), (true, false));
    assert_eq!(eval("attribute:gpus <= 16"), (true, true));
    assert_eq!(eval("attribute:gpus less_than_equal 4"), (true, false));
    assert_eq!(
        eval("attribute:ecs.instance-type > m5"),
        (true, false),
        "strings compare as strings"
    );
    assert_eq!(
        eval("attribute:stack > a"),
        (true, false),
        "missing attribute never compares"
    );
}

#[test]
fn exists_operators() {
    assert_eq!(eval("attribute:stack exists"), (true, false));
    assert_eq!(eval("attribute:stack !exists"), (false, true));
    assert_eq!(eval("attribute:stack ! exists"), (false, true));
    assert_eq!(eval("attribute:stack not_exists"), (false, true));
    assert_eq!(
        eval("attribute:ecs.capability.privileged-container exists"),
        (true, false),
        "valueless attributes exist"
    );
    assert_eq!(
        eval("attribute:ecs.capability.privileged-container == ''"),
        (true, false)
    );
    assert_eq!(eval("task:group exists"), (true, false));
    assert_eq!(eval("task:group !exists"), (false, true));
}

#[test]
fn list_operators() {
    assert_eq!(eval("attribute:stack in [prod, dev]"), (true, false));
    assert_eq!(eval("attribute:stack in (prod, dev)"), (true, false));
    assert_eq!(eval("attribute:stack in [dev]"), (false, false));
    assert_eq!(eval("attribute:stack !in [dev]"), (true, true));
    assert_eq!(eval("attribute:stack not_in [prod]"), (false, true));
    assert_eq!(eval("attribute:stack ! in [prod]"), (false, true));
    assert_eq!(eval("ec2InstanceId in [\"i-wxyx7890\"]"), (false, true));
    assert_eq!(eval("task:group in [service:production, service:other]"), (true, false));
    assert_eq!(eval("task:group not_in [service:production]"), (false, true));
    assert_eq!(eval("agentConnected in [true]"), (true, false));
}

#[test]
fn pattern_operators_match_whole_value() {
    assert_eq!(eval("attribute:ecs.instance-type =~ t2.*"), (true, false));
    assert_eq!(eval("attribute:ecs.instance-type matches t2.*"), (true, false));
    assert_eq!(eval("attribute:ecs.instance-type =~ small"), (false, false), "anchored");
    assert_eq!(eval("attribute:ecs.instance-type =~ .*small"), (true, false));
    assert_eq!(eval("attribute:ecs.instance-type !~ t2.*"), (false, true));
    assert_eq!(eval("attribute:ecs.instance-type not_matches t2.*"), (false, true));
    assert_eq!(eval("attribute:ecs.instance-type =~ '(t2|g2)\\..*'"), (true, true));
    assert_eq!(eval("ec2InstanceId =~ i-abcd.*"), (true, false));
    assert_eq!(eval("task:group =~ service:.*"), (true, false));
    assert_eq!(eval("task:group !~ service:.*"), (false, true));
    assert_eq!(eval("agentConnected =~ t.*"), (true, false));
    assert_eq!(eval("attribute:missing !~ x"), (true, true));
}

#[test]
fn boolean_combinations_and_precedence() {
    assert_eq!(eval("attribute:stack exists and runningTasksCount == 1"), (true, false));
    assert_eq!(eval("attribute:stack exists && runningTasksCount == 0"), (false, false));
    assert_eq!(eval("attribute:stack exists or runningTasksCount == 0"), (true, true));
    assert_eq!(eval("attribute:stack exists || agentConnected == false"), (true, true));
    assert_eq!(eval("!(attribute:stack exists)"), (false, true));
    assert_eq!(eval("not attribute:stack exists"), (false, true));
    assert_eq!(
        eval("NOT attribute:stack exists AND ec2InstanceId == i-wxyx7890"),
        (false, true)
    );
    // and binds tighter than or
    assert_eq!(
        eval("ec2InstanceId == i-abcd1234 or ec2InstanceId == i-wxyx7890 and attribute:stack exists"),
        (true, false)
    );
    assert_eq!(
        eval("(ec2InstanceId == i-abcd1234 or ec2InstanceId == i-wxyx7890) and attribute:gpus >= 16"),
        (false, true)
    );
    assert_eq!(eval("not not attribute:stack exists"), (true, false));
    assert_eq!(eval("((attribute:stack exists))"), (true, false));
}

#[test]
fn subjects() {
    assert_eq!(eval("agentConnected == true"), (true, false));
    assert_eq!(eval("agentConnected != true"), (false, true));
    assert_eq!(eval("agentVersion >= 1.14.5"), (true, false));
    assert_eq!(eval("agentVersion == 1.14.5"), (true, false));
    assert_eq!(eval("agentVersion > 1.9"), (true, false), "1.14 > 1.9 numerically");
    assert_eq!(eval("agentVersion == 1.9.0.0"), (false, true));
    assert_eq!(eval("runningTasksCount > 0"), (true, false));
    assert_eq!(eval("runningTasksCount <= 0"), (false, true));
    assert_eq!(eval("runningTasksCount != 1"), (false, true));
    assert_eq!(eval("task:group != service:production"), (false, true));
    assert_eq!(
        eval("TASK:GROUP == service:production"),
        (true, false),
        "subjects ignore case"
    );
    assert_eq!(
        eval("attribute:Stack exists"),
        (false, false),
        "attribute names keep case"
    );
}

#[test]
fn registered_at_accepts_the_documented_date_formats() {
    for t in [
        "2018-06-18T22:28:28+00:00",
        "2018-06-18T22:28:28Z",
        "2018-06-18T22:28:28",
        "2018-06-18T22:28:28.000Z",
        "2018-06-19T00:28:28+02:00",
        "2018-06-18T20:28:28-02:00",
    ] {
        assert_eq!(eval(&format!("registeredAt == {t}")), (true, false), "{t}");
        assert_eq!(eval(&format!("registeredAt >= {t}")), (true, true), "{t}");
        assert_eq!(eval(&format!("registeredAt > {t}")), (false, true), "{t}");
        assert_eq!(eval(&format!("registeredAt <= {t}")), (true, false), "{t}");
        assert_eq!(eval(&format!("registeredAt < {t}")), (false, false), "{t}");
    }
    // A date denotes the whole UTC day.
    assert_eq!(eval("registeredAt == 2018-06-18"), (true, false));
    assert_eq!(eval("registeredAt <= 2018-06-18"), (true, false));
    assert_eq!(eval("registeredAt < 2018-06-18"), (false, false));
    assert_eq!(eval("registeredAt > 2018-06-18"), (false, true));
    assert_eq!(eval("registeredAt >= 2018-06-19"), (false, true));
    assert_eq!(eval("registeredAt != 2018-06-18"), (false, true));
    assert_eq!(eval("registeredAt == 2020-09-13"), (false, true));
}

#[test]
fn errors_name_the_token_and_position() {
    assert_eq!(
        err("attribute:stack == prod xyz"),
        "Invalid placement constraint expression: unexpected token 'xyz' at position 25; expected 'and', 'or' or the end of the expression"
    );
    assert_eq!(
        err("colour == red"),
        "Invalid placement constraint expression: unknown subject 'colour' at position 1; expected agentConnected, agentVersion, attribute:NAME, ec2InstanceId, registeredAt, runningTasksCount or task:group"
    );
    let e = parse_expression("attribute:stack == prod xyz").unwrap_err();
    assert_eq!(e.position, 25);
    assert!(e.message.starts_with("unexpected token 'xyz'"));

    let cases: &[(&str, &str)] = &[
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
        ("attribute:", "missing attribute name after 'attribute:' at position 1"),
        ("attribute:stack", "expected an operator after 'attribute:stack'"),
        (
            "attribute:stack prod",
            "unexpected token 'prod' at position 17; expected an operator",
        ),
        (
            "attribute:stack = prod",
            "unexpected '=' at position 17; use '==' to compare or '=~'",
        ),
        ("attribute:stack ==", "expected a value after '==' at position 17"),
        (
            "attribute:stack == )",
            "unexpected token ')' at position 20; expected a value",
        ),
        (
            "attribute:stack in prod",
            "expected a list such as [a, b] after 'in' at position 17",
        ),
        (
            "attribute:stack in []",
            "unexpected token ']' at position 21; expected a value",
        ),
        (
            "attribute:stack in [a, b",
            "the list after 'in' at position 17 is missing its closing ']'",
        ),
        (
            "attribute:stack in [a b]",
            "unexpected token 'b' at position 23; expected ',' or ']'",
        ),
        (
            "attribute:stack == 'prod",
            "unterminated quoted string starting at position 20",
        ),
        ("(attribute:stack exists", "missing ')' to close the '(' at position 1"),
        (
            "attribute:stack exists)",
            "unexpected ')' at position 23; there is no matching '('",
        ),
        (
            "attribute:stack exists and",
            "the expression ends at position 27 where a condition was expected",
        ),
        (
            "attribute:stack exists & attribute:a exists",
            "unexpected '&' at position 24; use '&&' or 'and'",
        ),
        (
            "attribute:stack exists | attribute:a exists",
            "unexpected '|' at position 24; use '||' or 'or'",
        ),
        ("and attribute:stack exists", "unknown subject 'and' at position 1"),
        ("== prod", "unexpected token '==' at position 1; expected a condition"),
        (
            "attribute:stack ! prod",
            "'!' at position 17 must be followed by 'exists' or 'in'",
        ),
        (
            "task:group > 3",
            "operator '>' at position 12 can't be used with 'task:group'",
        ),
        (
            "runningTasksCount =~ 1",
            "operator '=~' at position 19 can't be used with 'runningTasksCount'",
        ),
        (
            "ec2InstanceId exists",
            "operator 'exists' at position 15 can't be used with 'ec2InstanceId'",
        ),
        ("runningTasksCount == one", "'one' at position 22 is not a whole number"),
        ("runningTasksCount == -1", "'-1' at position 22 is not a whole number"),
        (
            "registeredAt > yesterday",
            "'yesterday' at position 16 is not a valid date; use 2018-06-18T22:28:28Z",
        ),
        (
            "registeredAt > 2018-02-30",
            "'2018-02-30' at position 16 is not a valid date",
        ),
        ("registeredAt > 2018-06-18T25:00:00Z", "is not a valid date"),
        (
            "agentVersion > latest",
            "'latest' at position 16 is not a valid agent version",
        ),
        (
            "agentConnected == yes",
            "'yes' at position 19 is not valid for agentConnected; use true or false",
        ),
        (
            "attribute:ecs.instance-type =~ *.large",
            "invalid regular expression '*.large' at position 32",
        ),
    ];
    for (expr, want) in cases {
        let got = err(expr);
        assert!(got.contains(want), "{expr:?}\n  got:  {got}\n  want: …{want}…");
        assert!(got.starts_with("Invalid placement constraint expression: "), "{got}");
    }
}

#[test]
fn length_and_nesting_limits() {
    let long = format!("attribute:a == {}", "x".repeat(2000));
    assert!(err(&long).contains("characters long; the maximum is 2000"));
    assert_eq!(parse_expression(&long).unwrap_err().position, 0);

    let at_limit = format!("attribute:a == {}", "x".repeat(2000 - 15));
    assert_eq!(at_limit.chars().count(), 2000);
    assert!(parse_expression(&at_limit).is_ok());

    let deep = format!("{}attribute:a exists{}", "(".repeat(150), ")".repeat(150));
    assert!(err(&deep).contains("more than 100 deep"));
    let nots = format!("{}attribute:a exists", "not ".repeat(150));
    assert!(err(&nots).contains("more than 100 deep"));
    let ok = format!("{}attribute:a exists{}", "(".repeat(50), ")".repeat(50));
    assert!(parse_expression(&ok).is_ok());

    // Long flat chains are fine (n-ary and/or, no deep recursion).
    let chain = vec!["task:group exists"; 80].join(" and ");
    assert!(parse_expression(&chain).is_ok());
}

#[test]
fn display_is_canonical_and_reparses() {
    for src in [
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
        "not(task:group == database)",
        "(attribute:x exists or attribute:y exists) and not attribute:z == 'a b'",
    ] {
        let e = parse_expression(src).unwrap();
        let shown = e.to_string();
        let again = parse_expression(&shown).unwrap_or_else(|err| panic!("{shown}: {err}"));
        assert_eq!(again.to_string(), shown);
        assert_eq!(again.matches(&small()), e.matches(&small()));
        assert_eq!(again.matches(&gpu()), e.matches(&gpu()));
    }
    assert_eq!(
        parse_expression("attribute:ecs.instance-type equals t2.small && !(task:group in (a,b))")
            .unwrap()
            .to_string(),
        "attribute:ecs.instance-type == t2.small and not (task:group in [a, b])"
    );
}
