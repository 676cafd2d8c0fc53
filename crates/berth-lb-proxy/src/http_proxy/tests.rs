use super::*;
use bytes::BytesMut;

fn routes() -> HttpRoutes {
    HttpRoutes {
        rules: RuleSet::new(
            vec![],
            Compiled::Fixed(FixedResponse {
                status: 200,
                content_type: None,
                body: None,
            }),
        ),
        lb: Arc::new(LbShared::new(Duration::from_secs(60))),
        scheme: "https",
        port: 8443,
    }
}

/// The head the target gets for `request` from `peer` through `routes`.
fn head_for(request: Request<()>, authority: &Authority, peer: SocketAddr) -> String {
    let routes = routes();
    let up = upstream_request(request, authority).unwrap();
    assert_eq!(up.version(), Version::HTTP_11);
    let ip = client_ip(peer);
    let id = trace_id();
    let forwarded = h1::Forwarded {
        client_ip: ip.as_bytes(),
        proto: routes.scheme,
        port: routes.port,
        trace_id: &id,
    };
    let mut out = BytesMut::new();
    let path = up.uri().path_and_query().map_or("/", |p| p.as_str());
    h1::write_request_head(
        &mut out,
        up.method(),
        path,
        h1::map_fields(up.headers()),
        b"",
        h1::RequestFraming::AsIs,
        &forwarded,
    );
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn the_target_gets_http11_with_forwarded_headers_and_without_hop_by_hop_ones() {
    let request = Request::get("https://shop.example.com/cart?id=7")
        .version(Version::HTTP_2)
        .header("x-forwarded-for", "203.0.113.9")
        .header("connection", "x-private, keep-alive")
        .header("x-private", "secret")
        .header("te", "trailers")
        .header("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793")
        .body(())
        .unwrap();
    let authority: Authority = "10.0.0.5:32768".parse().unwrap();
    let peer: SocketAddr = "[::ffff:198.51.100.4]:50000".parse().unwrap();
    let head = head_for(request, &authority, peer);
    assert!(head.starts_with("GET /cart?id=7 HTTP/1.1\r\n"), "origin form: {head}");
    let line = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {name} in {head}"))
    };
    assert_eq!(line("host"), "shop.example.com", "the :authority becomes the Host");
    assert_eq!(line("x-forwarded-for"), "203.0.113.9, 198.51.100.4");
    assert_eq!(line("x-forwarded-proto"), "https");
    assert_eq!(line("x-forwarded-port"), "8443");
    for gone in ["connection", "x-private", "te", "keep-alive"] {
        assert!(!head.contains(&format!("\n{gone}:")), "{gone}: {head}");
    }
    let trace = line("x-amzn-trace-id");
    assert!(
        trace.starts_with("Root=1-5759e988-bd862e3fe1be46a994272793;Self=1-"),
        "{trace}"
    );
}

#[test]
fn without_a_host_the_target_s_authority_is_the_host_and_the_client_starts_x_forwarded_for() {
    let request = Request::get("/").version(Version::HTTP_10).body(()).unwrap();
    let authority: Authority = "10.0.0.5:32768".parse().unwrap();
    let peer: SocketAddr = "198.51.100.4:50000".parse().unwrap();
    let head = head_for(request, &authority, peer);
    assert!(head.starts_with("GET / HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nhost: 10.0.0.5:32768\r\n"), "{head}");
    assert!(head.contains("\r\nx-forwarded-for: 198.51.100.4\r\n"), "{head}");
    assert!(head.contains("\r\nx-amzn-trace-id: Root=1-"), "{head}");
    let v6: SocketAddr = "[2001:db8::7]:50000".parse().unwrap();
    assert_eq!(client_ip(v6), "2001:db8::7");
}

#[test]
fn a_trace_id_is_a_version_the_time_and_96_random_bits() {
    let id = trace_id();
    let id = std::str::from_utf8(&id).unwrap();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("1", 8, 24));
    assert!(parts[1..].iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit())));
}
