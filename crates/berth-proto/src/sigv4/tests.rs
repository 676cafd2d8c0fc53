//! Tests of [`super`] (sigv4.rs).

use super::*;
use super::{claims::*, date::*, error::*, sign::*};
use crate::AwsError;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

// ---- the published AWS SigV4 test suite (aws-sig-v4-test-suite, 2015 edition) ----

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const SERVICE: &str = "service";
const AMZ_DATE: &str = "20150830T123600Z";
const SCOPE: &str = "20150830/us-east-1/service/aws4_request";
const NOW: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);
const HOST: (&str, &str) = ("Host", "example.amazonaws.com");
const DATE: (&str, &str) = ("X-Amz-Date", AMZ_DATE);
const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

struct Vector {
    name: &'static str,
    method: &'static str,
    /// The path as it appears on the request line.
    path: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    /// The suite's `.creq`.
    creq: &'static str,
    /// The last line of the suite's `.sts`: hex SHA-256 of the canonical request.
    creq_sha256: &'static str,
    /// From the suite's `.authz`.
    signed_headers: &'static str,
    signature: &'static str,
    /// Whether [`sign`] produces this `.authz` from the unsigned request
    /// (not for `post-sts-header-after`, whose token is added after signing).
    sign_reproduces: bool,
}

fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "get-vanilla",
            method: "GET",
            path: "/",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            signed_headers: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            sign_reproduces: true,
        },
        Vector {
            name: "get-vanilla-empty-query-key",
            method: "GET",
            path: "/",
            query: "Param1=value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
            signed_headers: "host;x-amz-date",
            signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
            sign_reproduces: true,
        },
        Vector {
            name: "get-vanilla-query-order-key",
            method: "GET",
            path: "/",
            query: "Param1=value2&Param1=Value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
            signed_headers: "host;x-amz-date",
            signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
            sign_reproduces: true,
        },
        Vector {
            name: "get-vanilla-query-order-key-case",
            method: "GET",
            path: "/",
            query: "Param2=value2&Param1=value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
            signed_headers: "host;x-amz-date",
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            sign_reproduces: true,
        },
        Vector {
            name: "get-vanilla-query-order-value",
            method: "GET",
            path: "/",
            query: "Param1=value2&Param1=value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\nParam1=value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606",
            signed_headers: "host;x-amz-date",
            signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
            sign_reproduces: true,
        },
        Vector {
            name: "get-vanilla-query-unreserved",
            method: "GET",
            path: "/",
            query: "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
            signed_headers: "host;x-amz-date",
            signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
            sign_reproduces: true,
        },
        Vector {
            name: "get-vanilla-utf8-query",
            method: "GET",
            path: "/",
            query: "ሴ=bar",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
            signed_headers: "host;x-amz-date",
            signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
            sign_reproduces: true,
        },
        Vector {
            name: "get-unreserved",
            method: "GET",
            path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
            signed_headers: "host;x-amz-date",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
            sign_reproduces: true,
        },
        Vector {
            name: "get-utf8",
            method: "GET",
            path: "/ሴ",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
            signed_headers: "host;x-amz-date",
            signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            sign_reproduces: true,
        },
        Vector {
            name: "get-space (normalize-path)",
            method: "GET",
            path: "/example space/",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
            signed_headers: "host;x-amz-date",
            signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
            sign_reproduces: true,
        },
        Vector {
            name: "get-slash (normalize-path)",
            method: "GET",
            path: "//",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            signed_headers: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            sign_reproduces: true,
        },
        Vector {
            name: "get-slashes (normalize-path)",
            method: "GET",
            path: "//example//",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015",
            signed_headers: "host;x-amz-date",
            signature: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
            sign_reproduces: true,
        },
        Vector {
            name: "get-slash-dot-slash (normalize-path)",
            method: "GET",
            path: "/./",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            signed_headers: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            sign_reproduces: true,
        },
        Vector {
            name: "get-slash-pointless-dot (normalize-path)",
            method: "GET",
            path: "/./example",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/example\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
            signed_headers: "host;x-amz-date",
            signature: "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
            sign_reproduces: true,
        },
        Vector {
            name: "get-relative (normalize-path)",
            method: "GET",
            path: "/example/..",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            signed_headers: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            sign_reproduces: true,
        },
        Vector {
            name: "get-relative-relative (normalize-path)",
            method: "GET",
            path: "/example1/example2/../..",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            signed_headers: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            sign_reproduces: true,
        },
        Vector {
            name: "get-header-key-duplicate",
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                HOST,
                ("My-Header1", "value2"),
                ("My-Header1", "value2"),
                ("My-Header1", "value1"),
                DATE,
            ],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
            signed_headers: "host;my-header1;x-amz-date",
            signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
            sign_reproduces: true,
        },
        Vector {
            name: "get-header-value-order",
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                HOST,
                ("My-Header1", "value4"),
                ("My-Header1", "value1"),
                ("My-Header1", "value3"),
                ("My-Header1", "value2"),
                DATE,
            ],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
            signed_headers: "host;my-header1;x-amz-date",
            signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
            sign_reproduces: true,
        },
        Vector {
            name: "get-header-value-trim",
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                HOST,
                ("My-Header1", " value1 "),
                ("My-Header2", " \"a   b   c\"\t"),
                DATE,
            ],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
            signed_headers: "host;my-header1;my-header2;x-amz-date",
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            sign_reproduces: true,
        },
        Vector {
            name: "post-vanilla",
            method: "POST",
            path: "/",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
            signed_headers: "host;x-amz-date",
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            sign_reproduces: true,
        },
        Vector {
            name: "post-vanilla-query",
            method: "POST",
            path: "/",
            query: "Param1=value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
            signed_headers: "host;x-amz-date",
            signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
            sign_reproduces: true,
        },
        Vector {
            name: "post-header-key-case",
            method: "POST",
            path: "/",
            query: "",
            headers: &[("HOST", "example.amazonaws.com"), ("x-AMZ-date", AMZ_DATE)],
            body: "",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
            signed_headers: "host;x-amz-date",
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            sign_reproduces: true,
        },
        Vector {
            name: "post-header-key-sort",
            method: "POST",
            path: "/",
            query: "",
            headers: &[HOST, ("My-Header1", "value1"), DATE],
            body: "",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
            signed_headers: "host;my-header1;x-amz-date",
            signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
            sign_reproduces: true,
        },
        Vector {
            name: "post-header-value-case",
            method: "POST",
            path: "/",
            query: "",
            headers: &[HOST, ("My-Header1", "VALUE1"), DATE],
            body: "",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
            signed_headers: "host;my-header1;x-amz-date",
            signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
            sign_reproduces: true,
        },
        Vector {
            name: "post-x-www-form-urlencoded",
            method: "POST",
            path: "/",
            query: "",
            headers: &[("Content-Type", "application/x-www-form-urlencoded"), HOST, DATE],
            body: "Param1=value1",
            creq: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            creq_sha256: "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
            signed_headers: "content-type;host;x-amz-date",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            sign_reproduces: true,
        },
        Vector {
            name: "post-x-www-form-urlencoded-parameters",
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded; charset=utf8"),
                HOST,
                DATE,
            ],
            body: "Param1=value1",
            creq: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf8\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            creq_sha256: "2e1cf7ed91881a30569e46552437e4156c823447bf1781b921b5d486c568dd1c",
            signed_headers: "content-type;host;x-amz-date",
            signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
            sign_reproduces: true,
        },
        Vector {
            name: "post-sts-token/post-sts-header-before",
            method: "POST",
            path: "/",
            query: "",
            headers: &[HOST, DATE, ("X-Amz-Security-Token", STS_TOKEN)],
            body: "",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==\n\nhost;x-amz-date;x-amz-security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
            signed_headers: "host;x-amz-date;x-amz-security-token",
            signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
            sign_reproduces: true,
        },
        Vector {
            name: "post-sts-token/post-sts-header-after",
            method: "POST",
            path: "/",
            query: "",
            headers: &[HOST, DATE, ("X-Amz-Security-Token", STS_TOKEN)],
            body: "",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            creq_sha256: "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
            signed_headers: "host;x-amz-date",
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            sign_reproduces: false,
        },
    ]
}

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn apply(map: &mut HeaderMap, added: &[(String, String)]) {
    for (name, value) in added {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
}

fn parts<'a>(
    method: &'a str,
    raw_path: &'a str,
    raw_query: &'a str,
    headers: &'a HeaderMap,
    payload_sha256_hex: &'a str,
) -> HttpRequestParts<'a> {
    HttpRequestParts {
        method,
        raw_path,
        raw_query,
        headers,
        payload_sha256_hex,
    }
}

fn authz(signed_headers: &str, signature: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}, SignedHeaders={signed_headers}, Signature={signature}")
}

#[test]
fn aws_test_suite_vectors() {
    let key = signing_key(SECRET, "20150830", REGION, SERVICE);
    for v in vectors() {
        let name = v.name;
        // The fixture is self-consistent: the .sts hash is the hash of the .creq.
        assert_eq!(sha256_hex(v.creq.as_bytes()), v.creq_sha256, "{name}: fixture");

        let unsigned = header_map(v.headers);
        let mut headers = unsigned.clone();
        let authorization = authz(v.signed_headers, v.signature);
        headers.insert("authorization", HeaderValue::from_str(&authorization).unwrap());
        let payload = sha256_hex(v.body.as_bytes());
        let req = parts(v.method, v.path, v.query, &headers, &payload);

        let signed = parse(&req).unwrap_or_else(|e| panic!("{name}: parse: {e}"));
        assert_eq!(signed.access_key_id, AKID, "{name}");
        assert_eq!(signed.credential_scope(), SCOPE, "{name}");
        assert_eq!(signed.amz_date, AMZ_DATE, "{name}");
        assert_eq!(signed.timestamp, NOW, "{name}");
        assert_eq!(signed.signed_headers.join(";"), v.signed_headers, "{name}");
        assert_eq!(signed.signature, v.signature, "{name}");
        assert!(!signed.presigned, "{name}");
        let has_token = v
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token"));
        assert_eq!(
            signed.session_token.as_deref(),
            has_token.then_some(STS_TOKEN),
            "{name}"
        );

        let creq = canonical_request(&req, &signed.signed_headers, &payload, false);
        assert_eq!(creq, v.creq, "{name}: canonical request");
        let sts = string_to_sign(&signed.amz_date, &signed.credential_scope(), &creq);
        assert_eq!(
            sts,
            format!("AWS4-HMAC-SHA256\n{AMZ_DATE}\n{SCOPE}\n{}", v.creq_sha256),
            "{name}: string to sign"
        );
        assert_eq!(signature(&key, &sts), v.signature, "{name}: signature");

        assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()), "{name}: verify");
        assert_eq!(
            verify(&req, &signed, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", NOW),
            Err(SigV4Error::Mismatch),
            "{name}: other secret"
        );
        let mut other_host = headers.clone();
        other_host.insert("host", HeaderValue::from_static("example.amazonaws.org"));
        assert_eq!(
            verify(
                &parts(v.method, v.path, v.query, &other_host, &payload),
                &signed,
                SECRET,
                NOW
            ),
            Err(SigV4Error::Mismatch),
            "{name}: changed host"
        );
        if v.signed_headers.contains("my-header1") {
            let mut more = headers.clone();
            more.append("my-header1", HeaderValue::from_static("value5"));
            assert_eq!(
                verify(&parts(v.method, v.path, v.query, &more, &payload), &signed, SECRET, NOW),
                Err(SigV4Error::Mismatch),
                "{name}: changed signed header"
            );
        }
        let other_body = sha256_hex(b"Param1=value2");
        assert_eq!(
            verify(
                &parts(v.method, v.path, v.query, &headers, &other_body),
                &signed,
                SECRET,
                NOW
            ),
            Err(SigV4Error::Mismatch),
            "{name}: changed body"
        );
        let other_method = if v.method == "GET" { "POST" } else { "GET" };
        assert_eq!(
            verify(
                &parts(other_method, v.path, v.query, &headers, &payload),
                &signed,
                SECRET,
                NOW
            ),
            Err(SigV4Error::Mismatch),
            "{name}: changed method"
        );

        if v.sign_reproduces {
            let mut input = unsigned.clone();
            input.remove("x-amz-date");
            let mut creds = Credentials::new(AKID, SECRET);
            if let Some(token) = input.remove("x-amz-security-token") {
                creds = creds.with_session_token(token.to_str().unwrap());
            }
            let added = sign(
                v.method,
                v.path,
                v.query,
                &input,
                v.body.as_bytes(),
                &creds,
                REGION,
                SERVICE,
                NOW,
            );
            assert_eq!(
                added[0],
                ("authorization".to_owned(), authorization.clone()),
                "{name}: sign"
            );
            assert_eq!(added[1], ("x-amz-date".to_owned(), AMZ_DATE.to_owned()), "{name}: sign");
        }
    }
}

/// The 2011 edition of the suite as botocore keeps it: a `Date` header
/// instead of `X-Amz-Date`, and already-encoded paths that the canonical
/// URI encodes a second time.
#[test]
fn botocore_date_header_and_double_encoding_vectors() {
    let now = datetime!(2011-09-09 23:36:00 UTC);
    let cases = [
        (
            "/%E1%88%B4",
            "GET\n/%25E1%2588%25B4\n\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\ndate;host\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "47f4456c465167f4db3490a68903fe057412e6e030de38f71d9006467eb4922a",
            "57b1eb3df3b16a8479c0097b66c0b261cfd65b829419a3f2c3d05319722490b8",
        ),
        (
            "/%20/foo",
            "GET\n/%2520/foo\n\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\ndate;host\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "35975885599128f8963ce9be7219598b2b5a344321bae304529556c891e9e6ba",
            "2be9e587d1ee1f0fd02128724b86b4358ba3630d39f493b6e06610a19a50779e",
        ),
    ];
    for (path, expected_creq, creq_sha256, expected_signature) in cases {
        assert_eq!(sha256_hex(expected_creq.as_bytes()), creq_sha256, "{path}: fixture");
        let headers = header_map(&[
            ("Date", "Mon, 09 Sep 2011 23:36:00 GMT"),
            ("Host", "host.foo.com"),
            (
                "Authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential={AKID}/20110909/us-east-1/host/aws4_request, SignedHeaders=date;host, Signature={expected_signature}"
                ),
            ),
        ]);
        let req = parts("GET", path, "", &headers, EMPTY_PAYLOAD_SHA256);
        let signed = parse(&req).unwrap();
        assert_eq!(signed.amz_date, "20110909T233600Z");
        assert_eq!(signed.timestamp, now);
        assert_eq!(
            canonical_request(&req, &signed.signed_headers, EMPTY_PAYLOAD_SHA256, false),
            expected_creq
        );
        assert_eq!(verify(&req, &signed, SECRET, now), Ok(()), "{path}");
        assert_eq!(
            verify(&req, &signed, SECRET, now + Duration::minutes(16))
                .map_err(|e| matches!(e, SigV4Error::Expired { .. })),
            Err(true)
        );
    }
}

/// The worked example of AWS's "Create a signed AWS API request" page (IAM ListUsers).
#[test]
fn iam_documentation_example() {
    assert_eq!(
        hex::encode(signing_key(SECRET, "20120215", "us-east-1", "iam")),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );

    let headers = header_map(&[
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("Host", "iam.amazonaws.com"),
        ("X-Amz-Date", AMZ_DATE),
    ]);
    let req = parts(
        "GET",
        "/",
        "Action=ListUsers&Version=2010-05-08",
        &headers,
        EMPTY_PAYLOAD_SHA256,
    );
    let creq = canonical_request(
        &req,
        &["content-type", "host", "x-amz-date"],
        EMPTY_PAYLOAD_SHA256,
        false,
    );
    assert_eq!(
        creq,
        "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let sts = string_to_sign(AMZ_DATE, "20150830/us-east-1/iam/aws4_request", &creq);
    assert_eq!(
        sts,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    let key = signing_key(SECRET, "20150830", "us-east-1", "iam");
    assert_eq!(
        signature(&key, &sts),
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

const S3_AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const S3_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const S3_NOW: OffsetDateTime = datetime!(2013-05-24 00:00:00 UTC);

/// S3's "GET Object" header example: exercises `x-amz-content-sha256`.
#[test]
fn s3_documentation_header_example_with_content_sha256() {
    let headers = header_map(&[
        ("Host", "examplebucket.s3.amazonaws.com"),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_PAYLOAD_SHA256),
        ("x-amz-date", "20130524T000000Z"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
    ]);
    let req = parts("GET", "/test.txt", "", &headers, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    let creq = canonical_request(&req, &signed.signed_headers, EMPTY_PAYLOAD_SHA256, false);
    assert_eq!(
        creq,
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        string_to_sign(&signed.amz_date, &signed.credential_scope(), &creq),
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    );
    assert_eq!(verify(&req, &signed, S3_SECRET, S3_NOW), Ok(()));

    // A body that does not match the declared hash is refused before the signature is looked at.
    let other = sha256_hex(b"x");
    let err = verify(
        &parts("GET", "/test.txt", "", &headers, &other),
        &signed,
        S3_SECRET,
        S3_NOW,
    )
    .unwrap_err();
    assert_eq!(err, SigV4Error::ContentSha256Mismatch);
    let aws: AwsError = err.into();
    assert_eq!((aws.code.as_ref(), aws.status), ("InvalidSignatureException", 403));
}

/// S3's presigned-URL example: [`presign`] reproduces the documented URL, and
/// [`verify`] accepts it (with `UNSIGNED-PAYLOAD`) until it expires.
#[test]
fn s3_documentation_presigned_example() {
    let creds = Credentials::new(S3_AKID, S3_SECRET);
    let host = header_map(&[("Host", "examplebucket.s3.amazonaws.com")]);
    let query = presign(
        "GET",
        "/test.txt",
        "",
        &host,
        &SigningParams::new(&creds, "us-east-1", "s3", S3_NOW),
        86400,
    );
    assert_eq!(
        query,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );

    let req = parts("GET", "/test.txt", &query, &host, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert!(signed.presigned);
    assert_eq!(signed.expires_secs, Some(86400));
    assert_eq!(signed.signed_headers, ["host"]);
    assert_eq!(
        canonical_request(&req, &signed.signed_headers, UNSIGNED_PAYLOAD, true),
        "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
    );
    assert_eq!(verify(&req, &signed, S3_SECRET, S3_NOW), Ok(()));
    assert_eq!(
        verify(&req, &signed, S3_SECRET, S3_NOW + Duration::seconds(86400)),
        Ok(())
    );
    assert_eq!(
        verify(&req, &signed, S3_SECRET, S3_NOW + Duration::seconds(86401)),
        Err(SigV4Error::Expired {
            message: "Signature expired: 20130524T000000Z is now earlier than 20130524T000001Z (20130525T000001Z - 86400 sec.)"
                .into()
        })
    );
}

/// Query-signed requests as aws-c-auth (the CRT signer under aws-sdk-rust)
/// presigns them for non-S3 services: the payload line is the body's hash.
#[test]
fn aws_c_auth_presigned_vectors_with_body_hash() {
    let cases = [
        (
            "/",
            "Param2=value2&Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5",
        ),
        (
            "/ሴ",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44",
        ),
    ];
    let headers = header_map(&[HOST]);
    for (path, query) in cases {
        let req = parts("GET", path, query, &headers, EMPTY_PAYLOAD_SHA256);
        let signed = parse(&req).unwrap();
        assert_eq!((signed.presigned, signed.expires_secs), (true, Some(3600)));
        assert_eq!(
            verify(&req, &signed, SECRET, NOW + Duration::minutes(30)),
            Ok(()),
            "{path}"
        );
        assert_eq!(verify(&req, &signed, "other", NOW), Err(SigV4Error::Mismatch), "{path}");
    }
}

// ---- round trips ----

fn sample_headers() -> HeaderMap {
    header_map(&[
        ("Host", "ecs.localhost:8443"),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters"),
        ("User-Agent", "berth-agent/0.1"),
    ])
}

#[test]
fn sign_then_verify_header_form() {
    let body = br#"{"maxResults":10}"#;
    let payload = sha256_hex(body);
    let creds = Credentials::new("AKIABERTH", "berth-secret").with_session_token("tok/en+==");
    let unsigned = sample_headers();
    let added = sign(
        "POST",
        "/some%20path//x/./y",
        "b=2&a=%7E+1",
        &unsigned,
        body,
        &creds,
        "eu-west-1",
        "ecs",
        NOW,
    );
    let names: Vec<&str> = added.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["authorization", "x-amz-date", "x-amz-security-token"]);
    assert!(
        added[0]
            .1
            .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,")
    );

    let mut headers = unsigned.clone();
    apply(&mut headers, &added);
    // Headers a proxy or HTTP stack may rewrite are not signed.
    headers.insert("user-agent", HeaderValue::from_static("something-else"));
    let req = parts("POST", "/some%20path//x/./y", "b=2&a=%7E+1", &headers, &payload);
    let signed = parse(&req).unwrap();
    assert_eq!(signed.access_key_id, "AKIABERTH");
    assert_eq!((signed.region.as_str(), signed.service.as_str()), ("eu-west-1", "ecs"));
    assert_eq!(signed.session_token.as_deref(), Some("tok/en+=="));
    assert_eq!(signed.check_scope("eu-west-1", "ecs"), Ok(()));
    assert_eq!(verify(&req, &signed, "berth-secret", NOW), Ok(()));
    assert_eq!(verify(&req, &signed, "berth-secreT", NOW), Err(SigV4Error::Mismatch));

    // The query is canonicalized: the same parameters, encoded differently, still verify.
    let req = parts("POST", "/some%20path//x/./y", "a=~%201&b=%32", &headers, &payload);
    assert_eq!(verify(&req, &signed, "berth-secret", NOW), Ok(()));
    // A different query does not.
    let req = parts("POST", "/some%20path//x/./y", "b=2&a=%7E+2", &headers, &payload);
    assert_eq!(verify(&req, &signed, "berth-secret", NOW), Err(SigV4Error::Mismatch));
    // Neither does a path that differs once encoded ("%20" is not " " on the wire).
    let req = parts("POST", "/some path//x/./y", "b=2&a=%7E+1", &headers, &payload);
    assert_eq!(verify(&req, &signed, "berth-secret", NOW), Err(SigV4Error::Mismatch));
}

#[test]
fn sign_with_content_sha256_and_unsigned_payload() {
    let creds = Credentials::new(AKID, SECRET);
    let mut params = SigningParams::new(&creds, REGION, SERVICE, NOW);
    params.content_sha256_header = true;
    let body = b"hello";
    let added = sign_with("PUT", "/blob", "", &header_map(&[HOST]), body, &params);
    assert_eq!(added[2], ("x-amz-content-sha256".to_owned(), sha256_hex(body)));
    assert!(
        added[0]
            .1
            .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,")
    );
    let mut headers = header_map(&[HOST]);
    apply(&mut headers, &added);
    let payload = sha256_hex(body);
    let req = parts("PUT", "/blob", "", &headers, &payload);
    assert_eq!(verify(&req, &parse(&req).unwrap(), SECRET, NOW), Ok(()));

    params.payload = PayloadSigning::Unsigned;
    let added = sign_with("PUT", "/blob", "", &header_map(&[HOST]), body, &params);
    assert_eq!(
        added[2],
        ("x-amz-content-sha256".to_owned(), UNSIGNED_PAYLOAD.to_owned())
    );
    let mut headers = header_map(&[HOST]);
    apply(&mut headers, &added);
    // The body is not covered: any body verifies.
    let other = sha256_hex(b"anything");
    let req = parts("PUT", "/blob", "", &headers, &other);
    assert_eq!(verify(&req, &parse(&req).unwrap(), SECRET, NOW), Ok(()));

    // Without the header, UNSIGNED-PAYLOAD is not assumed for header-signed requests.
    params.content_sha256_header = false;
    let added = sign_with("PUT", "/blob", "", &header_map(&[HOST]), body, &params);
    let mut headers = header_map(&[HOST]);
    apply(&mut headers, &added);
    let req = parts("PUT", "/blob", "", &headers, &payload);
    assert_eq!(
        verify(&req, &parse(&req).unwrap(), SECRET, NOW),
        Err(SigV4Error::Mismatch)
    );
}

fn signed_vanilla(now_of_signature: OffsetDateTime) -> (HeaderMap, SignedRequest) {
    let creds = Credentials::new(AKID, SECRET);
    let mut headers = header_map(&[HOST]);
    let added = sign("GET", "/", "", &headers, b"", &creds, REGION, SERVICE, now_of_signature);
    apply(&mut headers, &added);
    let signed = parse(&parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256)).unwrap();
    (headers, signed)
}

#[test]
fn clock_skew_of_sixteen_minutes_fails_both_ways_with_aws_messages() {
    let (headers, signed) = signed_vanilla(NOW);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    assert_eq!(verify(&req, &signed, SECRET, NOW + Duration::minutes(15)), Ok(()));
    assert_eq!(verify(&req, &signed, SECRET, NOW - Duration::minutes(15)), Ok(()));

    let late = verify(&req, &signed, SECRET, NOW + Duration::minutes(16)).unwrap_err();
    let message =
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)";
    assert_eq!(
        late,
        SigV4Error::Expired {
            message: message.into()
        }
    );
    let aws: AwsError = late.into();
    assert_eq!(
        (aws.code.as_ref(), aws.status, aws.message.as_str()),
        ("InvalidSignatureException", 403, message)
    );

    let early = verify(&req, &signed, SECRET, NOW - Duration::minutes(16)).unwrap_err();
    let message =
        "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z (20150830T122000Z + 15 min.)";
    assert_eq!(
        early,
        SigV4Error::NotYetValid {
            message: message.into()
        }
    );
    let aws: AwsError = early.into();
    assert_eq!(
        (aws.code.as_ref(), aws.status, aws.message.as_str()),
        ("InvalidSignatureException", 403, message)
    );

    // A server clock with an offset is read in UTC.
    let offset = (NOW + Duration::minutes(16)).to_offset(time::macros::offset!(+2));
    assert_eq!(
        verify(&req, &signed, SECRET, offset).unwrap_err(),
        SigV4Error::Expired {
            message:
                "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)"
                    .into()
        }
    );
}

#[test]
fn presign_round_trip_with_session_token_and_expiry() {
    let creds = Credentials::new(AKID, SECRET).with_session_token(STS_TOKEN);
    let host = header_map(&[HOST]);
    let params = SigningParams::new(&creds, REGION, SERVICE, NOW);
    let query = presign("GET", "/v2/repo/manifests/latest", "a=b c", &host, &params, 60);
    assert!(query.starts_with("a=b c&X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
    assert!(query.contains("&X-Amz-Security-Token="));

    let req = parts("GET", "/v2/repo/manifests/latest", &query, &host, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert_eq!(signed.session_token.as_deref(), Some(STS_TOKEN));
    assert_eq!(signed.expires_secs, Some(60));
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));
    assert_eq!(verify(&req, &signed, SECRET, NOW + Duration::seconds(60)), Ok(()));
    // Clients' clocks may run a little ahead.
    assert_eq!(verify(&req, &signed, SECRET, NOW - Duration::minutes(15)), Ok(()));
    assert_eq!(
        verify(&req, &signed, SECRET, NOW + Duration::seconds(61)),
        Err(SigV4Error::Expired {
            message:
                "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T123701Z - 60 sec.)"
                    .into()
        })
    );
    assert!(matches!(
        verify(&req, &signed, SECRET, NOW - Duration::minutes(16)),
        Err(SigV4Error::NotYetValid { .. })
    ));
    // Any body verifies (UNSIGNED-PAYLOAD) ...
    let other = sha256_hex(b"body");
    assert_eq!(
        verify(
            &parts("GET", "/v2/repo/manifests/latest", &query, &host, &other),
            &signed,
            SECRET,
            NOW
        ),
        Ok(())
    );
    // ... but not another path or host.
    assert_eq!(
        verify(
            &parts("GET", "/v2/repo/manifests/other", &query, &host, EMPTY_PAYLOAD_SHA256),
            &signed,
            SECRET,
            NOW
        ),
        Err(SigV4Error::Mismatch)
    );
    let other_host = header_map(&[("Host", "evil.example.com")]);
    assert_eq!(
        verify(
            &parts(
                "GET",
                "/v2/repo/manifests/latest",
                &query,
                &other_host,
                EMPTY_PAYLOAD_SHA256
            ),
            &signed,
            SECRET,
            NOW
        ),
        Err(SigV4Error::Mismatch)
    );
    // Tampering with X-Amz-Expires breaks the signature.
    let longer = query.replace("X-Amz-Expires=60", "X-Amz-Expires=600");
    let req = parts("GET", "/v2/repo/manifests/latest", &longer, &host, EMPTY_PAYLOAD_SHA256);
    assert_eq!(
        verify(&req, &parse(&req).unwrap(), SECRET, NOW),
        Err(SigV4Error::Mismatch)
    );

    // Expiry is capped at a week.
    let capped = presign("GET", "/", "", &host, &params, 10 * MAX_PRESIGNED_EXPIRES_SECS);
    assert!(capped.contains("X-Amz-Expires=604800&"));
}

// ---- malformed requests ----

fn parse_with(headers: &[(&str, &str)], query: &str) -> Result<SignedRequest, SigV4Error> {
    let headers = header_map(headers);
    parse(&parts("GET", "/", query, &headers, EMPTY_PAYLOAD_SHA256))
}

fn incomplete(result: Result<SignedRequest, SigV4Error>) -> String {
    match result {
        Err(SigV4Error::Incomplete(message)) => message,
        other => panic!("expected Incomplete, got {other:?}"),
    }
}

const GOOD_CREDENTIAL: &str = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

#[test]
fn missing_authentication() {
    let err = parse_with(&[HOST, DATE], "").unwrap_err();
    assert_eq!(err, SigV4Error::Missing);
    let aws: AwsError = err.into();
    assert_eq!(
        (aws.code.as_ref(), aws.status),
        ("MissingAuthenticationTokenException", 403)
    );
    assert_eq!(
        parse_with(&[HOST, DATE, ("Authorization", "  ")], "").unwrap_err(),
        SigV4Error::Missing
    );
    assert_eq!(
        parse_with(&[HOST], "Action=ListUsers&X-Amz-Credential=x").unwrap_err(),
        SigV4Error::Missing
    );
}

#[test]
fn other_algorithms_are_refused_clearly() {
    for (value, algorithm) in [
        (
            "AWS4-HMAC-SHA512 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA512",
        ),
        (
            "AWS4-ECDSA-P256-SHA256 Credential=a/b/c/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-ECDSA-P256-SHA256",
        ),
        ("AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "AWS"),
        ("Bearer eyJhbGciOi", "Bearer"),
        ("Basic QUtJRDpzZWNyZXQ=", "Basic"),
        ("aws4-hmac-sha256 Credential=x", "aws4-hmac-sha256"),
    ] {
        let err = parse_with(&[HOST, DATE, ("Authorization", value)], "").unwrap_err();
        assert_eq!(err, SigV4Error::UnsupportedAlgorithm(algorithm.into()), "{value}");
        let aws: AwsError = err.into();
        assert_eq!((aws.code.as_ref(), aws.status), ("IncompleteSignatureException", 400));
        assert!(aws.message.contains("Only 'AWS4-HMAC-SHA256'"), "{}", aws.message);
    }
    // SigV2 in the query string.
    assert_eq!(
        parse_with(&[HOST], "AWSAccessKeyId=AKID&Signature=abc&SignatureVersion=2").unwrap_err(),
        SigV4Error::UnsupportedAlgorithm("AWS Signature Version 2".into())
    );
    // Presigned with another algorithm.
    assert_eq!(
        parse_with(
            &[HOST],
            "X-Amz-Algorithm=AWS4-HMAC-SHA1&X-Amz-Credential=a&X-Amz-Date=b&X-Amz-SignedHeaders=host&X-Amz-Signature=c"
        )
        .unwrap_err(),
        SigV4Error::UnsupportedAlgorithm("AWS4-HMAC-SHA1".into())
    );
}

#[test]
fn incomplete_authorization_headers() {
    let message = incomplete(parse_with(
        &[
            HOST,
            DATE,
            (
                "Authorization",
                "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        ],
        "",
    ));
    assert_eq!(
        message,
        "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc"
    );
    let aws: AwsError = SigV4Error::Incomplete(message).into();
    assert_eq!((aws.code.as_ref(), aws.status), ("IncompleteSignatureException", 400));

    let message = incomplete(parse_with(&[HOST, ("Authorization", "AWS4-HMAC-SHA256")], ""));
    for needed in [
        "requires 'Credential' parameter.",
        "requires 'Signature' parameter.",
        "requires 'SignedHeaders' parameter.",
        "requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    ] {
        assert!(message.contains(needed), "{message}");
    }

    let header = |rest: &str| format!("AWS4-HMAC-SHA256 {rest}");
    let message = incomplete(parse_with(
        &[
            HOST,
            DATE,
            (
                "Authorization",
                &header(&format!("{GOOD_CREDENTIAL}, SignedHeaders, Signature=abc")),
            ),
        ],
        "",
    ));
    assert!(message.contains("missing equal-sign"), "{message}");
    let message = incomplete(parse_with(
        &[
            HOST,
            DATE,
            (
                "Authorization",
                &header(&format!(
                    "{GOOD_CREDENTIAL}, {GOOD_CREDENTIAL}, SignedHeaders=host, Signature=abc"
                )),
            ),
        ],
        "",
    ));
    assert!(message.contains("duplicate 'Credential'"), "{message}");

    let with = |credential: &str, signed_headers: &str, date: &str| {
        parse_with(
            &[
                HOST,
                ("X-Amz-Date", date),
                (
                    "Authorization",
                    &header(&format!(
                        "Credential={credential}, SignedHeaders={signed_headers}, Signature=abc"
                    )),
                ),
            ],
            "",
        )
    };
    let message = incomplete(with(
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request_x",
        "host",
        AMZ_DATE,
    ));
    assert_eq!(
        message,
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_request_x'."
    );
    let message = incomplete(with(
        "AKIDEXAMPLE/20150831/us-east-1/service/aws4_request",
        "host",
        AMZ_DATE,
    ));
    assert_eq!(
        message,
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'."
    );
    let message = incomplete(with("AKIDEXAMPLE/20150830/us-east-1", "host", AMZ_DATE));
    assert!(
        message.starts_with("Credential must have exactly 5 slash-delimited elements"),
        "{message}"
    );
    let message = incomplete(with("AKIDEXAMPLE/20150830//service/aws4_request", "host", AMZ_DATE));
    assert!(message.starts_with("Credential has an empty"), "{message}");
    let message = incomplete(with(
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
        "x-amz-date",
        AMZ_DATE,
    ));
    assert_eq!(
        message,
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
    let message = incomplete(with(
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
        "host",
        "2015-08-30T12:36:00Z",
    ));
    assert!(
        message.starts_with("Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'."),
        "{message}"
    );
    let message = incomplete(with(
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
        "host",
        "20150230T123600Z",
    ));
    assert!(message.starts_with("Date must be in ISO-8601"), "{message}");

    // Two Authorization headers, or both mechanisms at once.
    let value = header(&format!("{GOOD_CREDENTIAL}, SignedHeaders=host, Signature=abc"));
    let message = incomplete(parse_with(
        &[HOST, DATE, ("Authorization", &value), ("Authorization", &value)],
        "",
    ));
    assert!(message.contains("more than one Authorization header"), "{message}");
    let message = incomplete(parse_with(
        &[HOST, DATE, ("Authorization", &value)],
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
    ));
    assert!(message.starts_with("Only one auth mechanism allowed"), "{message}");

    // Non-ASCII bytes in the Authorization header.
    let mut headers = header_map(&[HOST, DATE]);
    headers.insert(
        "authorization",
        HeaderValue::from_bytes(b"AWS4-HMAC-SHA256 Credential=\xff\xfe").unwrap(),
    );
    let message = incomplete(parse(&parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256)));
    assert!(message.contains("not visible ASCII"), "{message}");

    // Long input is echoed shortened.
    let long = header(&"x".repeat(100_000));
    let message = incomplete(parse_with(&[HOST, DATE, ("Authorization", &long)], ""));
    assert!(message.len() < 2_000, "{}", message.len());
}

#[test]
fn incomplete_presigned_queries() {
    let message = incomplete(parse_with(
        &[HOST],
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z",
    ));
    assert_eq!(
        message,
        "AWS query-string parameters must include 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
    );
    let base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
    assert!(parse_with(&[HOST], base).is_ok());
    assert_eq!(parse_with(&[HOST], base).unwrap().expires_secs, None);
    assert_eq!(
        incomplete(parse_with(&[HOST], &format!("{base}&X-Amz-Expires=604801"))),
        "X-Amz-Expires must be less than a week (in seconds) that is 604800"
    );
    assert_eq!(
        incomplete(parse_with(&[HOST], &format!("{base}&X-Amz-Expires=-1"))),
        "X-Amz-Expires should be a number"
    );
    assert_eq!(
        incomplete(parse_with(
            &[HOST],
            &format!("{base}&X-Amz-Expires=99999999999999999999999")
        )),
        "X-Amz-Expires should be a number"
    );
    assert!(incomplete(parse_with(&[HOST], &format!("{base}&X-Amz-Signature=01"))).contains("Duplicate"));
    assert!(
        incomplete(parse_with(&[HOST], &base.replace("20150830T123600Z", "20150830")))
            .starts_with("X-Amz-Date must be")
    );
    assert!(incomplete(parse_with(&[HOST], &format!("{base}&X-Amz-Security-Token=%ff"))).contains("not valid UTF-8"));
}

#[test]
fn scope_check() {
    let (_, signed) = signed_vanilla(NOW);
    assert_eq!(signed.check_scope(REGION, SERVICE), Ok(()));
    let err = signed.check_scope("eu-west-1", SERVICE).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::WrongScope("Credential should be scoped to a valid region. ".into())
    );
    let aws: AwsError = err.into();
    assert_eq!((aws.code.as_ref(), aws.status), ("InvalidSignatureException", 403));
    assert_eq!(
        signed.check_scope(REGION, "ecs").unwrap_err(),
        SigV4Error::WrongScope("Credential should be scoped to correct service: 'ecs'. ".into())
    );
}

// ---- endpoint rules (check_claims, verify_for) ----

const REGIONS: &[&str] = &[REGION];

/// A JSON call as botocore signs it: host, content-type, x-amz-date and
/// x-amz-target signed, optionally with a session token and x-amz-content-sha256.
fn signed_call(body: &[u8], extra: &[(&str, &str)], params: &SigningParams<'_>) -> HeaderMap {
    let mut headers = header_map(&[HOST, ("Content-Type", "application/x-amz-json-1.1")]);
    for (k, v) in extra {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let added = sign_with("POST", "/", "", &headers, body, params);
    apply(&mut headers, &added);
    headers
}

#[test]
fn endpoint_scope_must_name_the_service_and_a_region() {
    let creds = Credentials::new(AKID, SECRET);
    let target = [("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")];
    let body = b"{}";
    let payload = sha256_hex(body);
    let ssm = SigningParams::new(&creds, REGION, "ssm", NOW);
    let headers = signed_call(body, &target, &ssm);
    let req = parts("POST", "/", "", &headers, &payload);
    let signed = parse(&req).unwrap();
    // The signature itself is good (signed for ssm), the endpoint is not.
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));
    let err = check_claims(&req, &signed, &Endpoint::new("ecs", REGIONS)).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::WrongScope("Credential should be scoped to correct service: 'ecs'. ".into())
    );
    let aws: AwsError = err.into();
    assert_eq!((aws.code.as_ref(), aws.status), ("InvalidSignatureException", 403));
    assert_eq!(check_claims(&req, &signed, &Endpoint::new("ssm", REGIONS)), Ok(()));
    // A request whose service is not known yet is refused later, not here.
    let any = Endpoint {
        service: None,
        ..Endpoint::new("x", REGIONS)
    };
    assert_eq!(check_claims(&req, &signed, &any), Ok(()));

    let err = check_claims(&req, &signed, &Endpoint::new("ssm", &["eu-west-1"])).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::WrongScope("Credential should be scoped to a valid region. ".into())
    );
    assert_eq!(
        check_claims(&req, &signed, &Endpoint::new("ssm", &["eu-west-1", REGION])),
        Ok(())
    );
}

#[test]
fn every_x_amz_header_present_must_be_signed() {
    let creds = Credentials::new(AKID, SECRET).with_session_token("tok");
    let body = b"{}";
    let payload = sha256_hex(body);
    let params = SigningParams::new(&creds, REGION, "ecs", NOW);
    let endpoint = Endpoint::new("ecs", REGIONS);
    let headers = signed_call(body, &[("X-Amz-Target", "Svc.Op")], &params);
    let req = parts("POST", "/", "", &headers, &payload);
    let signed = parse(&req).unwrap();
    assert_eq!(check_claims(&req, &signed, &endpoint), Ok(()));

    // X-Amz-Target added after signing (or left out of SignedHeaders):
    // the operation is not covered by the signature.
    let mut headers = signed_call(body, &[], &params);
    headers.insert("x-amz-target", HeaderValue::from_static("Svc.DeleteEverything"));
    let req = parts("POST", "/", "", &headers, &payload);
    let signed = parse(&req).unwrap();
    let err = check_claims(&req, &signed, &endpoint).unwrap_err();
    assert_eq!(err, SigV4Error::UnsignedHeaders("x-amz-target".into()));
    let aws: AwsError = err.into();
    assert_eq!(aws.code, "InvalidSignatureException");
    assert!(aws.message.contains("not signed: x-amz-target"), "{}", aws.message);

    // The same for a token or a date left out of SignedHeaders.
    for dropped in ["x-amz-security-token", "x-amz-date"] {
        let headers = signed_call(body, &[("X-Amz-Target", "Svc.Op")], &params);
        let authz = headers["authorization"]
            .to_str()
            .unwrap()
            .replace(&format!(";{dropped}"), "");
        let mut h = headers.clone();
        h.insert("authorization", HeaderValue::from_str(&authz).unwrap());
        let req = parts("POST", "/", "", &h, &payload);
        let signed = parse(&req).unwrap();
        assert_eq!(
            check_claims(&req, &signed, &endpoint),
            Err(SigV4Error::UnsignedHeaders(dropped.into())),
            "{dropped}"
        );
    }
    // A request dated by `Date` must sign it.
    let mut h = header_map(&[HOST, ("Date", "Sun, 30 Aug 2015 12:36:00 GMT")]);
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!(
            "{ALGORITHM} Credential={AKID}/{SCOPE}, SignedHeaders=host, Signature={}",
            "0".repeat(64)
        ))
        .unwrap(),
    );
    let req = parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert_eq!(
        check_claims(&req, &signed, &Endpoint::new(SERVICE, REGIONS)),
        Err(SigV4Error::UnsignedHeaders("date".into()))
    );
}

#[test]
fn unsigned_payload_only_where_the_endpoint_allows_it() {
    let creds = Credentials::new(AKID, SECRET);
    let mut params = SigningParams::new(&creds, REGION, "ecs", NOW);
    params.content_sha256_header = true;
    params.payload = PayloadSigning::Unsigned;
    let headers = signed_call(b"{}", &[("X-Amz-Target", "Svc.Op")], &params);
    let payload = sha256_hex(b"{\"any\":\"body\"}");
    let req = parts("POST", "/", "", &headers, &payload);
    let signed = parse(&req).unwrap();
    let strict = Endpoint::new("ecs", REGIONS);
    let err = check_claims(&req, &signed, &strict).unwrap_err();
    assert_eq!(err, SigV4Error::UnsignedPayloadRefused);
    let aws: AwsError = err.into();
    assert_eq!(aws.code, "InvalidSignatureException");
    assert_eq!(
        verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Refused),
        Err(SigV4Error::UnsignedPayloadRefused)
    );
    let lax = strict.allowing_unsigned_payload();
    assert_eq!(check_claims(&req, &signed, &lax), Ok(()));
    assert_eq!(verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Allowed), Ok(()));

    // A presigned request (UNSIGNED-PAYLOAD implied) is held to the body's hash.
    let creds = Credentials::new(AKID, SECRET);
    let presigned_query = presign(
        "GET",
        "/",
        "",
        &header_map(&[HOST]),
        &SigningParams::new(&creds, REGION, SERVICE, NOW),
        300,
    );
    let h = header_map(&[HOST]);
    let req = parts("GET", "/", &presigned_query, &h, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert_eq!(verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Allowed), Ok(()));
    assert_eq!(
        verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Refused),
        Err(SigV4Error::Mismatch)
    );
}

#[test]
fn declared_payloads() {
    let h = |v: &str| header_map(&[("x-amz-content-sha256", v)]);
    assert_eq!(declared_payload(&HeaderMap::new()), Ok(DeclaredPayload::Absent));
    assert_eq!(declared_payload(&h(UNSIGNED_PAYLOAD)), Ok(DeclaredPayload::Unsigned));
    assert_eq!(
        declared_payload(&h(&EMPTY_PAYLOAD_SHA256.to_uppercase())),
        Ok(DeclaredPayload::Sha256(EMPTY_PAYLOAD_SHA256.into()))
    );
    assert!(matches!(
        declared_payload(&h("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")),
        Err(SigV4Error::InvalidContentSha256(_))
    ));
    // A declared hash that does not match the body is refused before the HMAC.
    let creds = Credentials::new(AKID, SECRET);
    let mut params = SigningParams::new(&creds, REGION, "ecs", NOW);
    params.content_sha256_header = true;
    let headers = signed_call(b"{}", &[("X-Amz-Target", "Svc.Op")], &params);
    let other = sha256_hex(b"{\"other\":1}");
    let req = parts("POST", "/", "", &headers, &other);
    let signed = parse(&req).unwrap();
    assert_eq!(
        verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Refused),
        Err(SigV4Error::ContentSha256Mismatch)
    );
    let good = sha256_hex(b"{}");
    let req = parts("POST", "/", "", &headers, &good);
    assert_eq!(verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Refused), Ok(()));
}

#[test]
fn bad_signatures_and_content_hashes() {
    let (headers, mut signed) = signed_vanilla(NOW);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    let good = signed.signature.clone();
    for bad in ["", "zz", "00", &good[..63], &format!("{good}00"), &"g".repeat(64)] {
        signed.signature = bad.to_owned();
        assert_eq!(verify(&req, &signed, SECRET, NOW), Err(SigV4Error::Mismatch), "{bad}");
    }
    signed.signature = good.to_uppercase();
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));
    let aws: AwsError = SigV4Error::Mismatch.into();
    assert_eq!(aws, AwsError::signature_mismatch());

    for value in ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "abc", ""] {
        let mut h = headers.clone();
        h.insert("x-amz-content-sha256", HeaderValue::from_str(value).unwrap());
        let err = verify(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256), &signed, SECRET, NOW).unwrap_err();
        assert_eq!(err, SigV4Error::InvalidContentSha256(value.into()));
        let aws: AwsError = err.into();
        assert_eq!((aws.code.as_ref(), aws.status), ("IncompleteSignatureException", 400));
    }
    let mut h = headers.clone();
    h.append("x-amz-content-sha256", HeaderValue::from_static(EMPTY_PAYLOAD_SHA256));
    h.append("x-amz-content-sha256", HeaderValue::from_static(EMPTY_PAYLOAD_SHA256));
    assert!(matches!(
        verify(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256), &signed, SECRET, NOW),
        Err(SigV4Error::Incomplete(_))
    ));
}

#[test]
fn non_utf8_header_values_are_signed_as_bytes() {
    let creds = Credentials::new(AKID, SECRET);
    let mut headers = header_map(&[HOST]);
    headers.insert("x-binary", HeaderValue::from_bytes(b"caf\xe9  \xff\t end").unwrap());
    let added = sign("GET", "/", "", &headers, b"", &creds, REGION, SERVICE, NOW);
    assert!(added[0].1.contains("SignedHeaders=host;x-amz-date;x-binary,"));
    apply(&mut headers, &added);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));
    let creq = canonical_request(&req, &signed.signed_headers, EMPTY_PAYLOAD_SHA256, false);
    assert!(creq.contains("x-binary:caf\u{fffd} \u{fffd} end\n"), "{creq}");

    // Non-ASCII date and token headers are errors, not panics.
    let mut h = headers.clone();
    h.insert("x-amz-date", HeaderValue::from_bytes(b"2015\xff").unwrap());
    assert!(matches!(
        parse(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256)),
        Err(SigV4Error::Incomplete(_))
    ));
    let mut h = headers.clone();
    h.insert("x-amz-security-token", HeaderValue::from_bytes(b"\xff").unwrap());
    assert!(matches!(
        parse(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256)),
        Err(SigV4Error::Incomplete(_))
    ));
    let mut h = headers.clone();
    h.insert("x-amz-content-sha256", HeaderValue::from_bytes(b"\xff").unwrap());
    assert!(matches!(
        verify(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256), &signed, SECRET, NOW),
        Err(SigV4Error::InvalidContentSha256(_))
    ));
}

#[test]
fn http_date_header() {
    assert_eq!(
        parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(datetime!(1994-11-06 08:49:37 UTC))
    );
    for bad in [
        "",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT",
    ] {
        assert_eq!(parse_http_date(bad), None, "{bad}");
    }
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(NOW));
    for bad in [
        "",
        "20150830T123600",
        "20150830t123600Z",
        "2015083OT123600Z",
        "20151330T123600Z",
        "20150830T126000Z",
        "+0150830T123600Z",
        "２015083T123600Z",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
    assert_eq!(format_amz_date(datetime!(2015-08-30 12:36:00.999 UTC)), AMZ_DATE);
}

#[test]
fn path_normalization_and_encoding() {
    for (raw, canonical) in [
        ("", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/a/./b/../c/", "/a/c/"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/..", "/"),
        ("/../../a", "/a"),
        ("a/b", "/a/b"),
        ("*", "/%2A"),
        ("/%2e%2e/x", "/%252e%252e/x"),
        ("/v2/foo/blobs/uploads/", "/v2/foo/blobs/uploads/"),
        ("/a+b/c d/é", "/a%2Bb/c%20d/%C3%A9"),
        ("/~user/file.tar.gz", "/~user/file.tar.gz"),
    ] {
        assert_eq!(canonical_uri(raw), canonical, "{raw:?}");
    }
}

#[test]
fn query_canonicalization() {
    for (raw, canonical) in [
        ("", ""),
        ("a=1&b", "a=1&b="),
        ("b=%2f&a=x+y", "a=x%20y&b=%2F"),
        ("a=x%20y", "a=x%20y"),
        ("a=%2B", "a=%2B"),
        ("a=%zz&b=%4", "a=%25zz&b=%254"),
        ("a=1&&b=2&", "a=1&b=2"),
        ("=", "="),
        ("a=b=c", "a=b%3Dc"),
        ("é=ü", "%C3%A9=%C3%BC"),
        ("%e1%88%b4=bar", "%E1%88%B4=bar"),
        ("B=1&a=2&_=3&~=4", "B=1&_=3&a=2&~=4"),
        ("a=2&a=10&a=1", "a=1&a=10&a=2"),
    ] {
        assert_eq!(canonical_query_string(raw, false), canonical, "{raw:?}");
    }
    assert_eq!(canonical_query_string("X-Amz-Signature=abc&a=1", true), "a=1");
    assert_eq!(
        canonical_query_string("X-Amz-Signature=abc&a=1", false),
        "X-Amz-Signature=abc&a=1"
    );
}

#[test]
fn huge_inputs_do_not_panic() {
    let path = "/a/../".repeat(50_000) + &"%ff/./x//".repeat(20_000);
    let query: String = (0..50_000).map(|i| format!("k{i}=v%{i:02x}+&")).collect();
    let creds = Credentials::new(AKID, SECRET);
    let mut headers = header_map(&[HOST, ("x-big", &"v ".repeat(100_000))]);
    let added = sign(
        "GET",
        &path,
        &query,
        &headers,
        &[7u8; 1 << 20],
        &creds,
        REGION,
        SERVICE,
        NOW,
    );
    apply(&mut headers, &added);
    let payload = sha256_hex(&[7u8; 1 << 20]);
    let req = parts("GET", &path, &query, &headers, &payload);
    let signed = parse(&req).unwrap();
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));

    let signed_headers = (0..10_000).map(|i| format!("h{i}")).collect::<Vec<_>>().join(";");
    let value = format!("AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=host;{signed_headers}, Signature=00");
    let headers = header_map(&[HOST, DATE, ("Authorization", &value)]);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    assert_eq!(
        verify(&req, &parse(&req).unwrap(), SECRET, NOW),
        Err(SigV4Error::Mismatch)
    );
}

#[test]
fn extreme_clocks_do_not_panic() {
    let (headers, signed) = signed_vanilla(NOW);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    for now in [
        OffsetDateTime::UNIX_EPOCH,
        datetime!(-9999-01-01 0:00 UTC),
        datetime!(9999-12-31 23:59:59 UTC),
    ] {
        assert!(verify(&req, &signed, SECRET, now).is_err());
    }
    let far = datetime!(9999-12-31 23:59:59 UTC);
    let (headers, signed) = signed_vanilla(far);
    assert_eq!(
        verify(
            &parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256),
            &signed,
            SECRET,
            far
        ),
        Ok(())
    );
}

#[test]
fn credentials_debug_hides_secrets() {
    let creds = Credentials::new(AKID, SECRET).with_session_token("token-value");
    let shown = format!("{creds:?}");
    assert!(shown.contains(AKID));
    assert!(!shown.contains(SECRET) && !shown.contains("token-value"), "{shown}");
}

// ---- properties ----

fn flip_hex(signature: &str, at: usize, to: u8) -> String {
    let mut bytes = signature.as_bytes().to_vec();
    let at = at % bytes.len();
    let choices: Vec<u8> = b"0123456789abcdef"
        .iter()
        .copied()
        .filter(|c| *c != bytes[at])
        .collect();
    bytes[at] = choices[usize::from(to) % choices.len()];
    String::from_utf8(bytes).unwrap()
}

/// Method, raw path, raw query, extra headers, body.
type RandomRequest = (&'static str, String, String, Vec<(String, String)>, Vec<u8>);

fn request_strategy() -> impl Strategy<Value = RandomRequest> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
        (
            prop::collection::vec("[a-zA-Z0-9._~%+ !$&'()*,;=:@é-]{0,8}", 0..5),
            any::<bool>(),
        )
            .prop_map(|(segments, trailing)| {
                let mut path = format!("/{}", segments.join("/"));
                if trailing {
                    path.push('/');
                }
                path
            }),
        prop::collection::vec(("[a-zA-Z0-9._~%+ é-]{0,6}", "[a-zA-Z0-9._~%+= é-]{0,6}"), 0..5).prop_map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        }),
        prop::collection::vec(("[a-z][a-z0-9-]{0,10}", "[ -~]{0,24}"), 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn signed_requests_verify_and_flipped_signatures_never_do(
        (method, path, query, extra, body) in request_strategy(),
        token in prop::option::of("[A-Za-z0-9/+=]{1,40}"),
        skew in -900i64..=900,
        flip_at in 0usize..64,
        flip_to in 0u8..15,
    ) {
        let mut creds = Credentials::new("AKIAPROPTEST", "proptest/secret+key");
        if let Some(token) = token {
            creds = creds.with_session_token(token);
        }
        let mut headers = header_map(&[("Host", "localhost:4566")]);
        for (name, value) in &extra {
            headers.append(
                HeaderName::from_bytes(format!("x-t-{name}").as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let added = sign(method, &path, &query, &headers, &body, &creds, "us-west-2", "ecs", NOW);
        apply(&mut headers, &added);
        let payload = sha256_hex(&body);
        let req = parts(method, &path, &query, &headers, &payload);
        let signed = parse(&req).unwrap();
        prop_assert_eq!(verify(&req, &signed, "proptest/secret+key", NOW + Duration::seconds(skew)), Ok(()));

        let flipped = flip_hex(&signed.signature, flip_at, flip_to);
        let mut tampered = headers.clone();
        tampered.insert(
            "authorization",
            HeaderValue::from_str(&added[0].1.replace(&signed.signature, &flipped)).unwrap(),
        );
        let req = parts(method, &path, &query, &tampered, &payload);
        let signed = parse(&req).unwrap();
        prop_assert_eq!(signed.signature.as_str(), flipped.as_str());
        prop_assert_eq!(verify(&req, &signed, "proptest/secret+key", NOW), Err(SigV4Error::Mismatch));
    }

    #[test]
    fn presigned_requests_verify_and_flipped_signatures_never_do(
        (method, path, query, _extra, body) in request_strategy(),
        expires in 1u64..=MAX_PRESIGNED_EXPIRES_SECS,
        flip_at in 0usize..64,
        flip_to in 0u8..15,
    ) {
        let creds = Credentials::new("AKIAPROPTEST", "proptest/secret+key");
        let headers = header_map(&[("Host", "localhost:4566")]);
        let params = SigningParams::new(&creds, "us-west-2", "ecs", NOW);
        let signed_query = presign(method, &path, &query, &headers, &params, expires);
        let payload = sha256_hex(&body);
        let req = parts(method, &path, &signed_query, &headers, &payload);
        let signed = parse(&req).unwrap();
        prop_assert_eq!(verify(&req, &signed, "proptest/secret+key", NOW + Duration::seconds(expires as i64)), Ok(()));

        let (unsigned, signature) = signed_query.rsplit_once("&X-Amz-Signature=").unwrap();
        let tampered = format!("{unsigned}&X-Amz-Signature={}", flip_hex(signature, flip_at, flip_to));
        let req = parts(method, &path, &tampered, &headers, &payload);
        prop_assert_eq!(verify(&req, &parse(&req).unwrap(), "proptest/secret+key", NOW), Err(SigV4Error::Mismatch));
    }

    #[test]
    fn arbitrary_input_never_panics(
        authorization in "[ -~]{0,200}",
        date in "[ -~]{0,20}",
        query in "\\PC{0,120}",
        path in "\\PC{0,60}",
        method in "\\PC{0,8}",
    ) {
        let mut headers = header_map(&[("Host", "h")]);
        headers.insert("x-amz-date", HeaderValue::from_str(&date).unwrap());
        headers.insert("authorization", HeaderValue::from_str(&authorization).unwrap());
        for (h, q) in [(&headers, query.as_str()), (&HeaderMap::new(), query.as_str())] {
            let req = parts(&method, &path, q, h, EMPTY_PAYLOAD_SHA256);
            if let Ok(signed) = parse(&req) {
                let _ = verify(&req, &signed, "secret", NOW);
            }
            let _ = canonical_request(&req, &["host", "x-amz-date", "Bad Name", ""], EMPTY_PAYLOAD_SHA256, true);
        }
    }
}
