//! Engine behaviour checks against Go's `text/template` semantics.

use std::collections::BTreeMap;
use std::rc::Rc;

use proptest::prelude::*;

use crate::value::FuncValue;
use crate::{Limits, MissingKey, Mode, Template, Value};

fn run_with(
    text: &str,
    data: Value,
    setup: impl FnOnce(&mut Template<'_>),
) -> Result<String, String> {
    let mut t = Template::new("t");
    setup(&mut t);
    t.parse(text).map_err(|e| e.to_string())?;
    t.execute(data).map_err(|e| e.to_string())
}

fn run(text: &str, data: Value) -> Result<String, String> {
    run_with(text, data, |_| {})
}

fn ok(text: &str, data: Value) -> String {
    run(text, data).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str, data: Value) -> String {
    match run(text, data) {
        Ok(out) => panic!("{text}: expected an error, got {out:?}"),
        Err(e) => e,
    }
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::any_map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn ints(v: &[i64]) -> Value {
    Value::list(v.iter().map(|i| Value::Int(*i)).collect())
}

#[test]
fn text_and_trim_markers() {
    assert_eq!(ok("a {{- 1 -}} b", Value::Nil), "a1b");
    assert_eq!(ok("a  \n{{- 1}} b", Value::Nil), "a1 b");
    assert_eq!(ok("{{1 -}}\n\t x", Value::Nil), "1x");
    assert_eq!(ok("x {{/* c */}} y", Value::Nil), "x  y");
    assert_eq!(ok("x {{- /* c */ -}} y", Value::Nil), "xy");
    assert_eq!(ok("{{-3}}", Value::Nil), "-3");
    assert_eq!(ok("plain", Value::Nil), "plain");
}

#[test]
fn literals() {
    assert_eq!(
        ok(
            "{{0x1F}} {{1e3}} {{'a'}} {{1_000}} {{-0.5}} {{0o17}} {{1.5e-7}} {{1.0}}",
            Value::Nil
        ),
        "31 1000 97 1000 -0.5 15 1.5e-07 1"
    );
    assert_eq!(
        ok(r#"{{"a\tb"}}|{{`a\n`}}|{{true}}"#, Value::Nil),
        "a\tb|a\\n|true"
    );
    assert!(
        err("{{18446744073709551615}}", Value::Nil).contains("18446744073709551615 overflows int")
    );
    assert!(err("{{99999999999999999999}}", Value::Nil).contains("integer overflow"));
    assert!(err("{{3xyz}}", Value::Nil).contains("bad number syntax: \"3x\""));
    assert!(err("{{-}}", Value::Nil).contains("illegal number syntax: \"-\""));
    assert!(err("{{\"abc}}", Value::Nil).contains("unterminated quoted string"));
}

#[test]
fn truthiness_and_conditionals() {
    let cases = [
        (Value::Int(0), "n"),
        (Value::Int(2), "y"),
        (Value::Float(0.0), "n"),
        (Value::str(""), "n"),
        (Value::str("x"), "y"),
        (Value::Nil, "n"),
        (Value::list(vec![]), "n"),
        (ints(&[1]), "y"),
        (map(&[]), "n"),
        (Value::Bool(false), "n"),
    ];
    for (v, want) in cases {
        assert_eq!(ok("{{if .}}y{{else}}n{{end}}", v), want);
    }
    let t = "{{if eq . 1}}one{{else if eq . 2}}two{{else}}many{{end}}";
    assert_eq!(ok(t, Value::Int(1)), "one");
    assert_eq!(ok(t, Value::Int(2)), "two");
    assert_eq!(ok(t, Value::Int(3)), "many");
    assert_eq!(
        ok(
            "{{with .A}}[{{.}}]{{else}}none{{end}}",
            map(&[("A", Value::str("x"))])
        ),
        "[x]"
    );
    assert_eq!(
        ok(
            "{{with .A}}[{{.}}]{{else with .B}}b={{.}}{{end}}",
            map(&[("B", Value::Int(4))])
        ),
        "b=4"
    );
}

#[test]
fn variables_and_scoping() {
    assert_eq!(ok("{{$x := 1}}{{$x}}", Value::Nil), "1");
    assert_eq!(
        ok("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", Value::Nil),
        "2"
    );
    assert_eq!(
        ok("{{with $x := \"hi\"}}{{$x}}{{.}}{{end}}", Value::Nil),
        "hihi"
    );
    assert!(err("{{if true}}{{$y := 1}}{{end}}{{$y}}", Value::Nil)
        .contains("undefined variable \"$y\""));
    let data = map(&[("Name", Value::str("n")), ("L", ints(&[1, 2]))]);
    assert_eq!(ok("{{range .L}}{{$.Name}}{{.}}{{end}}", data), "n1n2");
}

#[test]
fn range_forms() {
    let mut m = BTreeMap::new();
    m.insert("b".to_string(), Value::Int(2));
    m.insert("a".to_string(), Value::Int(1));
    let data = Value::any_map(m);
    assert_eq!(
        ok("{{range $k, $v := .}}{{$k}}={{$v}};{{end}}", data.clone()),
        "a=1;b=2;"
    );
    assert_eq!(ok("{{range .}}{{.}}{{end}}", data), "12");
    assert_eq!(
        ok("{{range $i, $e := .}}{{$i}}:{{$e}} {{end}}", ints(&[5, 6])),
        "0:5 1:6 "
    );
    assert_eq!(ok("{{range .}}x{{else}}empty{{end}}", ints(&[])), "empty");
    let t = "{{range .}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}";
    assert_eq!(ok(t, ints(&[1, 2, 3, 4, 5])), "13");
    assert_eq!(ok("{{range 3}}{{.}}{{end}}", Value::Nil), "012");
    assert!(err("{{range .}}{{end}}", Value::Bool(true)).contains("range can't iterate over true"));
    assert!(err("{{break}}", Value::Nil).contains("{{break}} outside {{range}}"));
}

#[test]
fn templates_define_block() {
    assert_eq!(
        ok(
            "{{define \"T\"}}[{{.}}]{{end}}{{template \"T\" \"x\"}}",
            Value::Nil
        ),
        "[x]"
    );
    assert_eq!(
        ok("{{block \"B\" .}}default {{.}}{{end}}", Value::str("d")),
        "default d"
    );
    assert_eq!(
        ok("{{define \"T\"}}{{.}}{{end}}{{template \"T\"}}", Value::Nil),
        "<no value>"
    );
    let e = err("{{template \"nope\"}}", Value::Nil);
    assert_eq!(e, "template: t:1:11: executing \"t\" at <{{template \"nope\"}}>: template \"nope\" not defined");
    let e = err(
        "{{define \"x\"}}{{.Q.R}}{{end}}{{template \"x\" \"s\"}}",
        Value::Nil,
    );
    assert_eq!(
        e,
        "template: t:1:18: executing \"x\" at <.Q.R>: can't evaluate field Q in type string"
    );
    let e = err(
        "{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\" .}}",
        Value::Nil,
    );
    assert!(e.contains("exceeded maximum template depth (100)"), "{e}");
}

#[test]
fn builtins_behave_like_go() {
    assert_eq!(
        ok(
            "{{and 1 0 (index . 5)}}|{{or 0 \"\" \"x\"}}|{{and 1 2}}|{{or 0 false}}",
            ints(&[])
        ),
        "0|x|2|false"
    );
    assert_eq!(
        ok(
            "{{not 0}} {{not 1}} {{len .}} {{index . 1}} {{slice \"abc\" 1 2}}",
            ints(&[7, 8, 9])
        ),
        "true false 3 8 b"
    );
    let nested = map(&[("m", map(&[("k", Value::list(vec![Value::str("v")]))]))]);
    assert_eq!(
        ok("{{index . \"m\" \"k\" 0}} {{index . \"zz\"}}", nested),
        "v <no value>"
    );
    assert_eq!(ok("{{eq 1 2 3 1}} {{eq \"a\" \"a\"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt 1.5 2.5}} {{ge \"b\" \"a\"}}", Value::Nil), "true true true true true false true");
    assert!(err("{{eq \"a\" 1}}", Value::Nil)
        .contains("error calling eq: incompatible types for comparison"));
    assert!(err("{{lt true false}}", Value::Nil).contains("invalid type for comparison"));
    assert_eq!(
        ok(
            "{{printf \"%d-%s\" 3 \"x\"}} {{printf \"%5.2f\" 3.14159}} {{ 3 | printf \"%d%%\" }}",
            Value::Nil
        ),
        "3-x  3.14 3%"
    );
    assert_eq!(
        ok("{{print 1 2 \"a\" 3}}|{{println \"a\" 1}}", Value::Nil),
        "1 2a3|a 1\n"
    );
    assert_eq!(
        ok(
            "{{html \"<a&b>\"}} {{js \"it's\"}} {{urlquery \"a b&c\"}}",
            Value::Nil
        ),
        "&lt;a&amp;b&gt; it\\'s a+b%26c"
    );
    assert_eq!(
        ok("{{printf \"%d %v\" \"s\"}}", Value::Nil),
        "%!d(string=s) %!v(MISSING)"
    );
    assert_eq!(
        ok("{{printf \"%999999999d\" 1}}", Value::Nil),
        "%!(NOVERB)%!(EXTRA int=1)"
    );
    assert_eq!(ok("{{ .5 | printf \"%.1f\" }}", Value::Nil), "0.5");
}

#[test]
fn call_and_function_values() {
    let f = Value::Func(Rc::new(FuncValue {
        name: "add".into(),
        f: Box::new(|_, a| match (&a[0], &a[1]) {
            (Value::Int(x), Value::Int(y)) => Ok(Value::Int(x + y)),
            _ => Err("want ints".into()),
        }),
    }));
    let data = map(&[("F", f)]);
    assert_eq!(ok("{{call .F 1 2}}", data.clone()), "3");
    assert!(err("{{call .F 1 \"x\"}}", data).contains("error calling call: want ints"));
    assert!(err("{{call .G}}", map(&[])).contains("call of nil"));
}

#[test]
fn fields_maps_and_missing_keys() {
    let labels = Value::string_map(
        [("job".to_string(), "api".to_string())]
            .into_iter()
            .collect(),
    );
    let data = map(&[("Labels", labels), ("Any", map(&[]))]);
    assert_eq!(
        ok(
            "{{.Labels.job}}|{{.Labels.nope}}|{{.Any.nope}}",
            data.clone()
        ),
        "api||<no value>"
    );
    let zero = run_with("{{.Any.nope}}", data.clone(), |t| {
        t.missing_key(MissingKey::Zero);
    });
    assert_eq!(zero.unwrap(), "<no value>");
    let e = run_with("{{.Any.nope}}", data.clone(), |t| {
        t.option("missingkey=error").unwrap();
    })
    .unwrap_err();
    assert_eq!(
        e,
        "template: t:1:6: executing \"t\" at <.Any.nope>: map has no entry for key \"nope\""
    );
    let rec = Value::record(
        "main.T",
        vec![
            ("Name", Value::str("n")),
            ("Inner", map(&[("x", Value::Int(1))])),
        ],
    );
    assert_eq!(
        ok(
            "{{.Name}} {{.Inner.x}} {{(index .Inner \"x\")}}",
            rec.clone()
        ),
        "n 1 1"
    );
    assert_eq!(
        err("{{.Nope}}", rec),
        "template: t:1:2: executing \"t\" at <.Nope>: can't evaluate field Nope in type main.T"
    );
    assert_eq!(
        err("{{.Foo.Bar}}", map(&[("Foo", Value::str("s"))])),
        "template: t:1:6: executing \"t\" at <.Foo.Bar>: can't evaluate field Bar in type string"
    );
    assert_eq!(
        err("a\n{{.X.Y}}", map(&[("X", Value::Int(1))])),
        "template: t:2:4: executing \"t\" at <.X.Y>: can't evaluate field Y in type int"
    );
}

#[test]
fn parse_errors() {
    let cases = [
        ("{{", "template: t:1: unclosed action"),
        (
            "{{nofunc}}",
            "template: t:1: function \"nofunc\" not defined",
        ),
        ("{{end}}", "template: t:1: unexpected {{end}}"),
        ("{{if}}{{end}}", "template: t:1: missing value for if"),
        (
            "{{ 1 | 2 }}",
            "template: t:1: non executable command in pipeline stage 2",
        ),
        ("{{if 1}}", "template: t:1: unexpected EOF"),
        (
            "{{ /* x */ }}",
            "template: t:1: unrecognized character in action: U+002F '/'",
        ),
        ("\n{{)}}", "template: t:2: unexpected right paren"),
        ("{{(1}}", "template: t:1: unclosed left paren"),
        ("{{.X := 1}}", "template: t:1: unexpected \":=\" in operand"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text, Value::Nil), want, "{text}");
    }
}

#[test]
fn exec_errors() {
    assert!(err("{{1 2}}", Value::Nil).ends_with("can't give argument to non-function 1"));
    assert!(err("{{printf 1}}", Value::Nil).ends_with("expected string; found 1"));
    assert!(err("{{len 3}}", Value::Nil).ends_with("error calling len: len of type int"));
    assert!(
        err("{{index . 5}}", ints(&[1])).ends_with("error calling index: index out of range: 5")
    );
    assert!(err("{{not}}", Value::Nil).ends_with("wrong number of args for not: want 1 got 0"));
    assert!(err("{{nil}}", Value::Nil).ends_with("nil is not a command"));
}

#[test]
fn time_values_and_methods() {
    let t = Value::Time(crate::GoTime::utc(1_353_755_652_000_000_000));
    assert_eq!(
        ok(
            "{{.Format \"2006-01-02\"}} {{.Unix}} {{(.Add 3600000000000).Hour}}",
            t.clone()
        ),
        "2012-11-24 1353755652 12"
    );
    assert_eq!(ok("{{.}}", t), "2012-11-24 11:14:12 +0000 UTC");
    assert_eq!(
        ok("{{.}} {{.Seconds}}", Value::Duration(90_000_000_000)),
        "1m30s 90"
    );
}

#[test]
fn html_mode_escapes_by_context() {
    let data = map(&[("X", Value::str("<b>\"q\"</b>")), ("U", Value::str("a b"))]);
    let out = run_with(
        "<p title=\"{{.X}}\">{{.X}}</p><a href=\"/s?q={{.U}}\">",
        data,
        |t| {
            t.mode(Mode::Html);
        },
    )
    .unwrap();
    assert_eq!(out, "<p title=\"&lt;b&gt;&#34;q&#34;&lt;/b&gt;\">&lt;b&gt;&#34;q&#34;&lt;/b&gt;</p><a href=\"/s?q=a%20b\">");
}

#[test]
fn limits_hold() {
    let small = Limits {
        max_output: 1000,
        max_depth: 100,
        max_steps: 1_000_000,
    };
    let e = run_with("{{range 100000}}xxxxxxxxxx{{end}}", Value::Nil, |t| {
        t.limits(small);
    })
    .unwrap_err();
    assert!(e.contains("output exceeds the limit of 1000 bytes"), "{e}");
    let e = run_with(
        "{{$x := \"ab\"}}{{range 40}}{{$x = printf \"%s%s\" $x $x}}{{end}}",
        Value::Nil,
        |t| {
            t.limits(small);
        },
    )
    .unwrap_err();
    assert!(e.contains("result exceeds the limit"), "{e}");
    let steps = Limits {
        max_steps: 500,
        ..Limits::default()
    };
    let e = run_with(
        "{{range 100}}{{range 100}}{{end}}{{end}}",
        Value::Nil,
        |t| {
            t.limits(steps);
        },
    )
    .unwrap_err();
    assert!(e.contains("steps"), "{e}");
    let deep = "{{if 1}}".repeat(150) + &"{{end}}".repeat(150);
    assert!(err(&deep, Value::Nil).contains("max nesting depth"));
    let parens = "{{".to_string() + &"(".repeat(150) + "1" + &")".repeat(150) + "}}";
    assert!(err(&parens, Value::Nil).contains("max nesting depth"));
}

const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    " ",
    ".",
    ".A",
    ".B.c",
    "$",
    "$x",
    " := ",
    " = ",
    "|",
    "(",
    ")",
    "if ",
    "else ",
    "range ",
    "with ",
    "end",
    "define ",
    "template ",
    "block ",
    "break",
    "continue",
    "\"t\"",
    "\"%d %s %v\"",
    "1",
    "-2.5e3",
    "'x'",
    "0x1F",
    "nil",
    "true",
    "printf ",
    "print ",
    "len ",
    "index ",
    "slice ",
    "eq ",
    "lt ",
    "and ",
    "or ",
    "not ",
    "html ",
    "js ",
    "call ",
    "/* c */",
    "`raw`",
    "text",
    "\n",
    ",",
    "é",
    "\u{a0}",
];

fn fuzz_data() -> Value {
    map(&[
        (
            "A",
            Value::list(vec![Value::Int(1), Value::str("s"), Value::Nil]),
        ),
        ("B", map(&[("c", Value::Float(2.5))])),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_template_text_never_panics(parts in proptest::collection::vec(0..PIECES.len(), 0..40)) {
        let text: String = parts.iter().map(|i| PIECES[*i]).collect();
        for mode in [Mode::Text, Mode::Html] {
            let _ = run_with(&text, fuzz_data(), |t| { t.mode(mode); });
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,80}") {
        let _ = run(&text, fuzz_data());
        let wrapped = format!("{{{{{text}}}}}");
        let _ = run(&wrapped, fuzz_data());
    }

    #[test]
    fn printf_never_panics(fmt in "[%#0+\\- 1-9.*\\[\\]dsvqxXobcUeEfgGtT%a-z]{0,16}") {
        let args = [Value::Int(-3), Value::str("s"), Value::Float(1.5), Value::Nil, Value::Bool(true)];
        let _ = crate::sprintf(&fmt, &args);
    }
}

#[test]
fn html_mode_merges_predefined_escapers() {
    let html = |src: &str| {
        run_with(src, Value::Nil, |t| {
            t.mode(Mode::Html);
        })
        .unwrap()
    };
    // `urlquery` in a URL query replaces the contextual URL escaper instead of having its
    // output escaped again (Go: `a%5Cb`, not `a%255Cb`).
    assert_eq!(
        html(r#"<a href="/x?r={{ "a\\b" | urlquery }}">"#),
        r#"<a href="/x?r=a%5Cb">"#
    );
    assert_eq!(
        html(r#"<a href="/x?r={{ urlquery "a b" "&" }}">"#),
        r#"<a href="/x?r=a&#43;b%26">"#
    );
    // In a URL path and at a URL's start it stands in for the normalizer.
    assert_eq!(
        html(r#"<a href="/p/{{ "a/b" | urlquery }}">"#),
        r#"<a href="/p/a%2Fb">"#
    );
    assert_eq!(
        html(r#"<a href="{{ "javascript:x" | urlquery }}">"#),
        r#"<a href="%23ZgotmplZ">"#
    );
    // `html` stands in for the text and attribute escapers.
    assert_eq!(html(r#"{{ "<b>" | html }}"#), "&lt;b&gt;");
    assert_eq!(html(r#"{{ html "<b>" }}"#), "&lt;b&gt;");
    assert_eq!(
        html(r#"<p title="{{ "a\"b" | html }}">"#),
        r#"<p title="a&#34;b">"#
    );
    // Not equivalent: `urlquery` output in text is still HTML-escaped, and `html` output
    // in a URL path is normalized after (Go runs the normalizer first).
    assert_eq!(html(r#"{{ "a&b" | urlquery }}"#), "a%26b");
    assert_eq!(
        html(r#"<a href="/p/{{ "a b<" | html }}">"#),
        r#"<a href="/p/a%20b%3c">"#
    );
    // An escaper earlier in the pipeline keeps its equivalent from being added.
    assert_eq!(
        html(r#"<a href="/x?r={{ "a b" | urlquery | printf "%s" }}">"#),
        r#"<a href="/x?r=a&#43;b">"#
    );
}
