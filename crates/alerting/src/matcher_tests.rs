//! Known answers taken from the behaviour of Alertmanager 0.25's classic
//! matcher parser (its unit-test inputs and amtool runs).

use super::*;

fn m(kind: MatchType, n: &str, v: &str) -> Matcher {
    Matcher::new(kind, n, v).unwrap()
}

#[test]
fn parses_lists() {
    use MatchType::*;
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        (r#"{foo=~"bar.*"}"#, vec![m(Regexp, "foo", "bar.*")]),
        (r#"{foo!="bar"}"#, vec![m(NotEqual, "foo", "bar")]),
        (r#"{foo!~"bar.*"}"#, vec![m(NotRegexp, "foo", "bar.*")]),
        (
            r#"{foo="bar", baz!="quux"}"#,
            vec![m(Equal, "foo", "bar"), m(NotEqual, "baz", "quux")],
        ),
        (r#"{foo=""}"#, vec![m(Equal, "foo", "")]),
        (
            r#"{foo="bar,quux", job="job1"}"#,
            vec![m(Equal, "foo", "bar,quux"), m(Equal, "job", "job1")],
        ),
        (
            r#"{foo = "bar", dings != "bums", }"#,
            vec![m(Equal, "foo", "bar"), m(NotEqual, "dings", "bums")],
        ),
        (
            "foo=bar,dings!=bums",
            vec![m(Equal, "foo", "bar"), m(NotEqual, "dings", "bums")],
        ),
        (
            r#"{quote="She said: \"Hi, ladies! That's gender-neutral…\""}"#,
            vec![m(
                Equal,
                "quote",
                r#"She said: "Hi, ladies! That's gender-neutral…""#,
            )],
        ),
        (r#"statuscode=~"5..""#, vec![m(Regexp, "statuscode", "5..")]),
        ("tricky=~~~", vec![m(Regexp, "tricky", "~~")]),
        (
            r#"trickier==\\=\=\""#,
            vec![m(Equal, "trickier", r#"=\=\=""#)],
        ),
        (
            r#"contains_quote != "\"" , contains_comma !~ "foo,bar" , "#,
            vec![
                m(NotEqual, "contains_quote", "\""),
                m(NotRegexp, "contains_comma", "foo,bar"),
            ],
        ),
        ("job=", vec![m(Equal, "job", "")]),
        ("a:b=c", vec![m(Equal, "a:b", "c")]),
        (r#"x="a\nb""#, vec![m(Equal, "x", "a\nb")]),
        (r#"x="a\tb""#, vec![m(Equal, "x", "a\\tb")]),
        ("x=a\\", vec![m(Equal, "x", "a\\")]),
        ("", vec![]),
        ("{}", vec![]),
    ];
    for (input, want) in cases {
        let got = parse_matchers(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got, want, "{input}");
    }
}

#[test]
fn reports_errors_like_alertmanager() {
    let cases = [
        (
            r#"job="value"#,
            r#"matcher value contains unescaped double quote: "value"#,
        ),
        (
            r#"job=value""#,
            r#"matcher value contains unescaped double quote: value""#,
        ),
        (
            r#"trickier==\\=\=\"""#,
            r#"matcher value contains unescaped double quote: =\\=\=\"""#,
        ),
        (
            r#"contains_unescaped_quote = foo"bar"#,
            r#"matcher value contains unescaped double quote: foo"bar"#,
        ),
        (
            r#"{invalid-name = "valid label"}"#,
            r#"bad matcher format: invalid-name = "valid label""#,
        ),
        (r#""{foo=\"bar"}"#, r#"bad matcher format: "{foo=\"bar""#),
        (r#""foo=\"bar""#, r#"bad matcher format: "foo=\"bar""#),
        (r#""foo="bar"""#, r#"bad matcher format: "foo="bar"""#),
        ("a=b,,c=d", "bad matcher format: "),
    ];
    for (input, want) in cases {
        let err = parse_matchers(input).unwrap_err();
        assert_eq!(err.to_string(), want, "{input}");
    }
    let err = parse_matchers(r#"{foo=~"invalid[regexp"}"#).unwrap_err();
    assert!(
        err.to_string().starts_with("error parsing regexp: "),
        "{err}"
    );
}

#[test]
fn regexes_are_anchored() {
    let r = parse_matcher("job=~api").unwrap();
    assert!(r.matches("api"));
    assert!(!r.matches("api-server"));
    assert!(!r.matches("my-api"));
    let alt = parse_matcher(r#"owner=~"team-(B|C)""#).unwrap();
    assert!(alt.matches("team-B") && alt.matches("team-C") && !alt.matches("team-BC"));
    // `a|b` must not become `^a|b$`.
    let or = parse_matcher("x=~a|b").unwrap();
    assert!(!or.matches("ab") && or.matches("b"));
    let neg = parse_matcher(r#"baz!~".*quux""#).unwrap();
    assert!(neg.matches("") && !neg.matches("fooquux"));
}

#[test]
fn missing_label_matches_as_empty() {
    let ls: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
    assert!(parse_matcher("b=").unwrap().matches_labels(&ls));
    assert!(parse_matcher("b!=x").unwrap().matches_labels(&ls));
    assert!(parse_matcher("b=~.*").unwrap().matches_labels(&ls));
    assert!(!parse_matcher("b=~.+").unwrap().matches_labels(&ls));
}

#[test]
fn display_escapes_and_sorts() {
    let mut ms =
        Matchers(parse_matchers(r#"{z="1", a=~"x\"y", a!="x\"y", q="l1\nl2\\"}"#).unwrap());
    ms.sort();
    assert_eq!(
        ms.to_string(),
        r#"{a!="x\"y",a=~"x\"y",q="l1\nl2\\",z="1"}"#
    );
}
