//! Go's `fmt` printing (`Sprint`, `Sprintln`, `Sprintf`) and `strconv.FormatFloat`, over
//! template values, byte-for-byte where templates can observe it.

use crate::goconv;
pub(crate) use crate::gofloat::format_float;
use crate::gotime;
use crate::value::Value;

/// Widths and precisions above this are rejected, as Go's `fmt` does.
const TOO_LARGE: usize = 1_000_000;

/// Printing stops growing a buffer past this size. Shared `Rc` values can describe
/// exponentially large structures; callers enforce their own (smaller) output limits.
pub(crate) const PRINT_CAP: usize = 16 << 20;

#[derive(Default, Clone)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

struct Printer {
    buf: String,
    f: Flags,
}

impl Printer {
    fn pad(&mut self, s: &str) {
        let w = self.f.wid.unwrap_or(0);
        let n = s.chars().count();
        if n >= w {
            self.buf.push_str(s);
            return;
        }
        let fill = w - n;
        if self.f.minus {
            self.buf.push_str(s);
            self.buf.extend(std::iter::repeat_n(' ', fill));
        } else {
            let c = if self.f.zero { '0' } else { ' ' };
            self.buf.extend(std::iter::repeat_n(c, fill));
            self.buf.push_str(s);
        }
    }

    fn bad_verb(&mut self, verb: char, v: &Value) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        match v {
            Value::Nil => self.buf.push_str("<nil>"),
            _ => {
                self.buf.push_str(&v.type_name());
                self.buf.push('=');
                let saved = std::mem::take(&mut self.f);
                self.print_value(v, 'v', 0);
                self.f = saved;
            }
        }
        self.buf.push(')');
    }

    fn fmt_integer(&mut self, neg: bool, mag: u64, verb: char) {
        let (base, upper) = match verb {
            'd' | 'v' => (10, false),
            'b' => (2, false),
            'o' | 'O' => (8, false),
            'x' => (16, false),
            'X' => (16, true),
            _ => (10, false),
        };
        let mut prec = 0usize;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && mag == 0 {
                let z = self.f.zero;
                self.f.zero = false;
                self.pad("");
                self.f.zero = z;
                return;
            }
        } else if self.f.zero && !self.f.minus && self.f.wid.is_some() {
            prec = self.f.wid.unwrap_or(0);
            if neg || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut digits = match base {
            2 => format!("{mag:b}"),
            8 => format!("{mag:o}"),
            16 if upper => format!("{mag:X}"),
            16 => format!("{mag:x}"),
            _ => mag.to_string(),
        };
        if digits.len() < prec {
            digits = "0".repeat(prec - digits.len()) + &digits;
        }
        let mut prefix = String::new();
        if self.f.sharp {
            match base {
                2 => prefix.push_str("0b"),
                8 if !digits.starts_with('0') => prefix.push('0'),
                16 => prefix.push_str(if upper { "0X" } else { "0x" }),
                _ => {}
            }
        }
        if verb == 'O' {
            prefix.insert_str(0, "0o");
        }
        let sign = if neg {
            "-"
        } else if self.f.plus {
            "+"
        } else if self.f.space {
            " "
        } else {
            ""
        };
        let s = format!("{sign}{prefix}{digits}");
        let z = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = z;
    }

    fn print_int(&mut self, v: &Value, neg: bool, mag: u64, verb: char) {
        match verb {
            'v' | 'd' | 'b' | 'o' | 'O' | 'x' | 'X' => self.fmt_integer(neg, mag, verb),
            'c' => {
                let c = if neg {
                    '\u{fffd}'
                } else {
                    char::from_u32(mag as u32)
                        .filter(|_| mag <= u32::MAX as u64)
                        .unwrap_or('\u{fffd}')
                };
                self.pad(&c.to_string());
            }
            'q' => {
                let c = if neg {
                    '\u{fffd}'
                } else {
                    char::from_u32(mag as u32)
                        .filter(|_| mag <= u32::MAX as u64)
                        .unwrap_or('\u{fffd}')
                };
                let s = if self.f.sharp && goconv::is_print(c) && c != '\'' {
                    format!("'{c}'")
                } else {
                    goconv::quote_rune(c, self.f.plus)
                };
                self.pad(&s);
            }
            'U' => {
                let mut s = if neg {
                    format!("U+-{mag:04X}")
                } else {
                    format!("U+{mag:04X}")
                };
                if self.f.sharp && !neg {
                    if let Some(c) = char::from_u32(mag as u32).filter(|c| goconv::is_print(*c)) {
                        s.push_str(&format!(" '{c}'"));
                    }
                }
                self.pad(&s);
            }
            _ => self.bad_verb(verb, v),
        }
    }

    fn fmt_float(&mut self, x: f64, verb: char) {
        let (v2, default_prec) = match verb {
            'v' => ('g', None),
            'F' => ('f', Some(6)),
            'f' | 'e' | 'E' => (verb, Some(6)),
            _ => (verb, None),
        };
        let prec = self.f.prec.or(default_prec);
        let mut num = format_float(x, v2, prec);
        if !num.starts_with(['-', '+']) {
            num.insert(0, '+');
        }
        if self.f.space && num.starts_with('+') && !self.f.plus {
            num.replace_range(0..1, " ");
        }
        let second = num.chars().nth(1).unwrap_or(' ');
        if second == 'I' || second == 'N' {
            let z = self.f.zero;
            self.f.zero = false;
            if second == 'N' && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad(&num);
            self.f.zero = z;
            return;
        }
        if self.f.sharp && verb != 'b' {
            let mut digits: i64 = match verb {
                'v' | 'g' | 'G' | 'x' => prec.map_or(6, |p| p as i64),
                _ => 0,
            };
            let mut tail = String::new();
            let body: Vec<char> = num.chars().collect();
            let mut kept = String::new();
            kept.push(body[0]);
            let mut has_point = false;
            let mut saw_nonzero = false;
            let mut i = 1;
            while i < body.len() {
                let c = body[i];
                match c {
                    '.' => {
                        has_point = true;
                        kept.push(c);
                    }
                    'p' | 'P' => {
                        tail = body[i..].iter().collect();
                        break;
                    }
                    'e' | 'E' if verb != 'x' && verb != 'X' => {
                        tail = body[i..].iter().collect();
                        break;
                    }
                    _ => {
                        if c != '0' {
                            saw_nonzero = true;
                        }
                        if saw_nonzero {
                            digits -= 1;
                        }
                        kept.push(c);
                    }
                }
                i += 1;
            }
            if !has_point {
                if kept.len() == 2 && kept.ends_with('0') {
                    digits -= 1;
                }
                kept.push('.');
            }
            while digits > 0 {
                kept.push('0');
                digits -= 1;
            }
            kept.push_str(&tail);
            num = kept;
        }
        if self.f.plus || !num.starts_with('+') {
            if self.f.zero && !self.f.minus && self.f.wid.is_some_and(|w| w > num.chars().count()) {
                let w = self.f.wid.unwrap_or(0);
                let sign = num.remove(0);
                self.buf.push(sign);
                let fill = w - 1 - num.chars().count();
                self.buf.extend(std::iter::repeat_n('0', fill));
                self.buf.push_str(&num);
                return;
            }
            self.pad(&num);
            return;
        }
        self.pad(&num[1..]);
    }

    fn fmt_string(&mut self, s: &str, verb: char, v: &Value) {
        match verb {
            'v' if self.f.sharp_v => self.pad(&goconv::quote(s)),
            'v' | 's' => {
                let s = self.truncate(s);
                self.pad(&s);
            }
            'q' => {
                let s = self.truncate(s);
                let q = if self.f.sharp && goconv::can_backquote(&s) {
                    format!("`{s}`")
                } else if self.f.plus {
                    goconv::quote_ascii(&s)
                } else {
                    goconv::quote(&s)
                };
                self.pad(&q);
            }
            'x' | 'X' => {
                let bytes = s.as_bytes();
                let n = self.f.prec.map_or(bytes.len(), |p| p.min(bytes.len()));
                let mut out = String::new();
                for (i, b) in bytes[..n].iter().enumerate() {
                    if self.f.space && i > 0 {
                        out.push(' ');
                    }
                    if self.f.sharp && (self.f.space || i == 0) {
                        out.push_str(if verb == 'x' { "0x" } else { "0X" });
                    }
                    if verb == 'x' {
                        out.push_str(&format!("{b:02x}"));
                    } else {
                        out.push_str(&format!("{b:02X}"));
                    }
                }
                self.pad(&out);
            }
            _ => self.bad_verb(verb, v),
        }
    }

    fn truncate(&self, s: &str) -> String {
        match self.f.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        }
    }

    fn print_value(&mut self, v: &Value, verb: char, depth: usize) {
        // Nesting in data is bounded by how values are built, but guard anyway.
        if depth > 100 || self.buf.len() > PRINT_CAP {
            return;
        }
        match v {
            Value::Nil => {
                if depth == 0 && verb != 'v' {
                    self.bad_verb(verb, v);
                } else {
                    self.pad("<nil>");
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, v),
            },
            Value::Int(i) => self.print_int(v, *i < 0, i.unsigned_abs(), verb),
            Value::Uint(u) => self.print_int(v, false, *u, verb),
            Value::Duration(d) => match verb {
                'v' | 's' | 'q' | 'x' | 'X' => {
                    self.fmt_string(&gotime::duration_string(*d), verb, v)
                }
                _ => self.print_int(v, *d < 0, d.unsigned_abs(), verb),
            },
            Value::Float(f) => match verb {
                'v' | 'b' | 'g' | 'G' | 'x' | 'X' | 'f' | 'F' | 'e' | 'E' => {
                    self.fmt_float(*f, verb)
                }
                _ => self.bad_verb(verb, v),
            },
            Value::Str(s) | Value::Html(s) => self.fmt_string(s, verb, v),
            Value::Time(t) => match verb {
                'v' | 's' | 'q' | 'x' | 'X' => self.fmt_string(&gotime::time_string(t), verb, v),
                _ => self.bad_verb(verb, v),
            },
            Value::Histogram(h) => match verb {
                'v' | 's' | 'q' | 'x' | 'X' => self.fmt_string(&h.to_string(), verb, v),
                _ => self.bad_verb(verb, v),
            },
            Value::List(l) => {
                self.buf.push('[');
                for (i, e) in l.items.iter().enumerate() {
                    if self.buf.len() > PRINT_CAP {
                        break;
                    }
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.print_value(e, verb, depth + 1);
                }
                self.buf.push(']');
            }
            Value::Map(m) => {
                self.buf.push_str("map[");
                for (i, (k, e)) in m.entries.iter().enumerate() {
                    if self.buf.len() > PRINT_CAP {
                        break;
                    }
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.fmt_string(k, verb, &Value::str(k));
                    self.buf.push(':');
                    self.print_value(e, verb, depth + 1);
                }
                self.buf.push(']');
            }
            Value::Record(r) => {
                self.buf.push('{');
                for (i, (k, e)) in r.fields.iter().enumerate() {
                    if self.buf.len() > PRINT_CAP {
                        break;
                    }
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    if self.f.plus_v {
                        self.buf.push_str(k);
                        self.buf.push(':');
                    }
                    self.print_value(e, verb, depth + 1);
                }
                self.buf.push('}');
            }
            Value::Func(_) => match verb {
                'v' | 'p' => self.pad("0x0"),
                _ => self.bad_verb(verb, v),
            },
        }
    }

    fn print_arg(&mut self, v: &Value, verb: char) {
        if verb == 'T' {
            let t = v.type_name();
            self.pad(&t);
            return;
        }
        self.print_value(v, verb, 0);
    }
}

fn is_string_kind(v: &Value) -> bool {
    matches!(v, Value::Str(_) | Value::Html(_))
}

/// Go's `fmt.Sprint`: operands separated by a space when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut p = Printer {
        buf: String::new(),
        f: Flags::default(),
    };
    for (i, a) in args.iter().enumerate() {
        if p.buf.len() > PRINT_CAP {
            break;
        }
        if i > 0 && !is_string_kind(a) && !is_string_kind(&args[i - 1]) {
            p.buf.push(' ');
        }
        p.f = Flags::default();
        p.print_arg(a, 'v');
    }
    p.buf
}

/// Go's `fmt.Sprintln`: operands always separated by spaces, newline appended.
pub fn sprintln(args: &[Value]) -> String {
    let mut p = Printer {
        buf: String::new(),
        f: Flags::default(),
    };
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.f = Flags::default();
        p.print_arg(a, 'v');
    }
    p.buf.push('\n');
    p.buf
}

fn parse_num(b: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let mut num = 0usize;
    let mut any = false;
    while i < b.len() && b[i].is_ascii_digit() {
        if num > TOO_LARGE {
            return (None, b.len());
        }
        num = num * 10 + (b[i] - b'0') as usize;
        any = true;
        i += 1;
    }
    (if any { Some(num) } else { None }, i)
}

fn int_from_arg(args: &[Value], n: usize) -> (Option<i64>, usize) {
    if n >= args.len() {
        return (None, n);
    }
    let v = match &args[n] {
        Value::Int(i) => Some(*i),
        Value::Uint(u) => i64::try_from(*u).ok(),
        Value::Duration(d) => Some(*d),
        _ => None,
    };
    (v.filter(|x| x.unsigned_abs() <= TOO_LARGE as u64), n + 1)
}

/// Go's `fmt.Sprintf`, including `%!verb(type=value)`, `MISSING`, `EXTRA` and `BADINDEX`
/// diagnostics and `%[n]` argument indexes.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer {
        buf: String::new(),
        f: Flags::default(),
    };
    let b = format.as_bytes();
    let end = b.len();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0usize;
    while i < end {
        let lasti = i;
        while i < end && b[i] != b'%' {
            i += 1;
        }
        if i > lasti {
            p.buf.push_str(&format[lasti..i]);
        }
        if i >= end {
            break;
        }
        i += 1;
        p.f = Flags::default();
        let mut good_arg = true;
        while i < end {
            match b[i] {
                b'#' => p.f.sharp = true,
                b'0' => p.f.zero = !p.f.minus,
                b'+' => p.f.plus = true,
                b'-' => {
                    p.f.minus = true;
                    p.f.zero = false;
                }
                b' ' => p.f.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut arg_index = |i: usize, arg_num: usize, good: &mut bool| -> (usize, usize, bool) {
            if i >= end || b[i] != b'[' {
                return (arg_num, i, false);
            }
            reordered = true;
            let close = b[i..].iter().position(|&c| c == b']');
            match close {
                Some(c) if c >= 2 => {
                    let (n, ni) = parse_num(b, i + 1);
                    match n {
                        Some(n) if ni == i + c && n >= 1 && n - 1 < args.len() => {
                            (n - 1, i + c + 1, true)
                        }
                        Some(_) if ni == i + c => {
                            *good = false;
                            (arg_num, i + c + 1, true)
                        }
                        _ => {
                            *good = false;
                            (arg_num, i + c + 1, false)
                        }
                    }
                }
                Some(c) => {
                    *good = false;
                    (arg_num, i + c + 1, false)
                }
                None => {
                    *good = false;
                    (arg_num, i + 1, false)
                }
            }
        };
        let (an, ni, mut after_index) = arg_index(i, arg_num, &mut good_arg);
        arg_num = an;
        i = ni;
        if i < end && b[i] == b'*' {
            i += 1;
            let (w, na) = int_from_arg(args, arg_num);
            arg_num = na;
            match w {
                Some(w) => {
                    if w < 0 {
                        p.f.minus = true;
                        p.f.zero = false;
                    }
                    p.f.wid = Some(w.unsigned_abs() as usize);
                }
                None => p.buf.push_str("%!(BADWIDTH)"),
            }
            after_index = false;
        } else {
            let (w, ni) = parse_num(b, i);
            p.f.wid = w;
            i = ni;
            if after_index && w.is_some() {
                good_arg = false;
            }
        }
        if i + 1 < end && b[i] == b'.' {
            i += 1;
            if after_index {
                good_arg = false;
            }
            let (an, ni, after) = arg_index(i, arg_num, &mut good_arg);
            arg_num = an;
            i = ni;
            after_index = after;
            if i < end && b[i] == b'*' {
                i += 1;
                let (pr, na) = int_from_arg(args, arg_num);
                arg_num = na;
                match pr {
                    Some(pr) if pr >= 0 => p.f.prec = Some(pr as usize),
                    _ => p.buf.push_str("%!(BADPREC)"),
                }
                after_index = false;
            } else {
                let (pr, ni) = parse_num(b, i);
                i = ni;
                p.f.prec = Some(pr.unwrap_or(0));
            }
        }
        if !after_index {
            let (an, ni, _) = arg_index(i, arg_num, &mut good_arg);
            arg_num = an;
            i = ni;
        }
        if i >= end {
            p.buf.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('?');
        i += verb.len_utf8();
        if verb == '%' {
            p.buf.push('%');
        } else if !good_arg {
            p.buf.push_str(&format!("%!{verb}(BADINDEX)"));
        } else if arg_num >= args.len() {
            p.buf.push_str(&format!("%!{verb}(MISSING)"));
        } else {
            if verb == 'v' {
                p.f.sharp_v = p.f.sharp;
                p.f.sharp = false;
                p.f.plus_v = p.f.plus;
                p.f.plus = false;
            }
            p.print_arg(&args[arg_num], verb);
            arg_num += 1;
        }
    }
    if !reordered && arg_num < args.len() {
        p.f = Flags::default();
        p.buf.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                p.buf.push_str(", ");
            }
            if let Value::Nil = a {
                p.buf.push_str("<nil>");
            } else {
                p.buf.push_str(&a.type_name());
                p.buf.push('=');
                p.print_arg(a, 'v');
            }
        }
        p.buf.push(')');
    }
    p.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, args: &[Value]) -> String {
        sprintf(fmt, args)
    }

    #[test]
    fn printf_verbs() {
        assert_eq!(
            f(
                "%d|%5d|%-5d|%05d|%+d",
                &[1.into(), 2.into(), 3.into(), (-4).into(), 5.into()]
            ),
            "1|    2|3    |-0004|+5"
        );
        assert_eq!(
            f(
                "%x %X %o %b %#x %#o %O",
                &[
                    255.into(),
                    255.into(),
                    8.into(),
                    5.into(),
                    255.into(),
                    8.into(),
                    8.into()
                ]
            ),
            "ff FF 10 101 0xff 010 0o10"
        );
        assert_eq!(
            f(
                "%s|%q|%10s|%-4s|%.2s",
                &[
                    "a".into(),
                    "b\"".into(),
                    "c".into(),
                    "d".into(),
                    "xyz".into()
                ]
            ),
            "a|\"b\\\"\"|         c|d   |xy"
        );
        assert_eq!(f("%t %v", &[true.into(), false.into()]), "true false");
        assert_eq!(
            f(
                "%c %q %U %#U",
                &[65.into(), 65.into(), 65.into(), 65.into()]
            ),
            "A 'A' U+0041 U+0041 'A'"
        );
        assert_eq!(
            f(
                "%.2f %8.3f %e %E %g %G",
                &[
                    3.25159.into(),
                    2.5.into(),
                    1234.5.into(),
                    1234.5.into(),
                    0.000012.into(),
                    1e21.into()
                ]
            ),
            "3.25    2.500 1.234500e+03 1.234500E+03 1.2e-05 1E+21"
        );
        assert_eq!(f("%d", &["foo".into()]), "%!d(string=foo)");
        assert_eq!(f("%d %d", &[1.into()]), "1 %!d(MISSING)");
        assert_eq!(f("%d", &[1.into(), "x".into()]), "1%!(EXTRA string=x)");
        assert_eq!(f("100%%", &[]), "100%");
        assert_eq!(f("%", &[]), "%!(NOVERB)");
        assert_eq!(f("%[2]d %[1]d", &[1.into(), 2.into()]), "2 1");
        assert_eq!(f("%x", &["hi".into()]), "6869");
        assert_eq!(f("%v", &[Value::list(vec![1.into(), "a".into()])]), "[1 a]");
        assert_eq!(
            f("%6.2f|%-8.3e|%+.1f", &[1.0.into(), 1.0.into(), 2.0.into()]),
            "  1.00|1.000e+00|+2.0"
        );
        assert_eq!(
            f("%#g %#.3x", &[1.0.into(), 1.0.into()]),
            "1.00000 0x1.000p+00"
        );
        assert_eq!(
            f("%05.1f|%x", &[(-2.5).into(), Value::Float(1.0)]),
            "-02.5|0x1p+00"
        );
        assert_eq!(
            f("%*d|%-*d", &[4.into(), 7.into(), 3.into(), 1.into()]),
            "   7|1  "
        );
        assert_eq!(f("%v %d", &[Value::Nil, Value::Nil]), "<nil> %!d(<nil>)");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(sprint(&[1.into(), 2.into(), "a".into(), 3.into()]), "1 2a3");
        assert_eq!(sprintln(&["a".into(), 1.into()]), "a 1\n");
    }
}
