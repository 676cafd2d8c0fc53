use super::*;
use crate::config::RedirectStatus;

fn original() -> Original<'static> {
    Original {
        protocol: "http",
        host: "shop.example.com",
        port: 80,
        path: "/cart/items",
        query: Some("id=7"),
    }
}

fn redirect() -> Redirect {
    Redirect {
        protocol: None,
        host: None,
        port: None,
        path: None,
        query: None,
        status: RedirectStatus::Http301,
    }
}

#[test]
fn http_to_https_keeps_the_rest_and_writes_the_port() {
    let r = Redirect {
        protocol: Some("HTTPS".into()),
        port: Some("443".into()),
        ..redirect()
    };
    assert_eq!(
        location(&r, &original()),
        "https://shop.example.com:443/cart/items?id=7"
    );
}

#[test]
fn reserved_keywords_are_replaced() {
    let r = Redirect {
        protocol: Some("#{protocol}".into()),
        host: Some("new.#{host}".into()),
        path: Some("/v2/#{path}".into()),
        query: Some("#{query}&from=#{port}".into()),
        ..redirect()
    };
    assert_eq!(
        location(&r, &original()),
        "http://new.shop.example.com:80/v2/cart/items?id=7&from=80"
    );
}

#[test]
fn an_empty_query_adds_no_question_mark() {
    let o = Original {
        query: None,
        ..original()
    };
    let r = Redirect {
        host: Some("example.org".into()),
        ..redirect()
    };
    assert_eq!(location(&r, &o), "http://example.org:80/cart/items");
}
