//! Go's `strconv.FormatFloat`: shortest and fixed-precision decimal, exponent, binary and
//! hexadecimal forms, with Go's exponent and rounding conventions.

/// `strconv.FormatFloat(x, verb, prec, 64)` for verbs `e E f F g G b x X`
/// (`prec` None = shortest representation that round-trips).
pub(crate) fn format_float(x: f64, verb: char, prec: Option<usize>) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = x.is_sign_negative();
    let a = x.abs();
    let body = match verb {
        'b' => {
            let bits = a.to_bits();
            let exp = ((bits >> 52) & 0x7ff) as i64;
            let mut mant = bits & ((1u64 << 52) - 1);
            let e = if exp == 0 {
                -1074
            } else {
                mant |= 1u64 << 52;
                exp - 1075
            };
            format!("{mant}p{}{}", if e >= 0 { "+" } else { "-" }, e.abs())
        }
        'x' | 'X' => hex_float(a, prec, verb == 'X'),
        'f' | 'F' => match prec {
            Some(p) => format!("{a:.p$}"),
            None => {
                let (digits, dp) = shortest_digits(a);
                fmt_f(&digits, dp, digits.len().saturating_sub(dp.max(0) as usize))
            }
        },
        'e' | 'E' => {
            let (digits, dp) = match prec {
                Some(p) => prec_digits(a, p + 1),
                None => shortest_digits(a),
            };
            let p = prec.unwrap_or(digits.len().saturating_sub(1));
            fmt_e(&digits, dp, p, verb)
        }
        _ => {
            // 'g' / 'G'
            let shortest = prec.is_none();
            let (digits, dp) = match prec {
                Some(p) => {
                    let p = p.max(1);
                    let (d, dp) = prec_digits(a, p);
                    (d.trim_end_matches('0').to_string(), dp)
                }
                None => shortest_digits(a),
            };
            let digits = if digits.is_empty() {
                "0".to_string()
            } else {
                digits
            };
            let nd = digits.len() as i32;
            let mut p = match prec {
                Some(p) => p.max(1) as i32,
                None => nd,
            };
            let mut eprec = p;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(
                    &digits,
                    dp,
                    (p - 1).max(0) as usize,
                    if verb == 'G' { 'E' } else { 'e' },
                )
            } else {
                if p > dp {
                    p = nd;
                }
                fmt_f(&digits, dp, (p - dp).max(0) as usize)
            }
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// Shortest round-tripping decimal digits of `a` (non-negative, finite) and the decimal
/// point position: `a = 0.DIGITS × 10^dp`.
fn shortest_digits(a: f64) -> (String, i32) {
    split_sci(&format!("{a:e}"))
}

/// `n` significant digits, correctly rounded.
fn prec_digits(a: f64, n: usize) -> (String, i32) {
    let p = n.saturating_sub(1);
    split_sci(&format!("{a:.p$e}"))
}

fn split_sci(s: &str) -> (String, i32) {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = e.parse().unwrap_or(0);
    if digits.chars().all(|c| c == '0') {
        return ("0".into(), 1);
    }
    (digits, exp + 1)
}

fn fmt_e(digits: &str, dp: i32, prec: usize, verb: char) -> String {
    let mut out = String::new();
    let first = digits.chars().next().unwrap_or('0');
    out.push(first);
    if prec > 0 {
        out.push('.');
        let rest: String = digits.chars().skip(1).take(prec).collect();
        out.push_str(&rest);
        for _ in rest.len()..prec {
            out.push('0');
        }
    }
    let exp = if digits == "0" { 0 } else { dp - 1 };
    out.push(if verb == 'E' || verb == 'G' { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

fn fmt_f(digits: &str, dp: i32, prec: usize) -> String {
    let d = digits.as_bytes();
    let mut out = String::new();
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(if i < d.len() { d[i] as char } else { '0' });
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            let j = dp + i;
            out.push(if j >= 0 && (j as usize) < d.len() {
                d[j as usize] as char
            } else {
                '0'
            });
        }
    }
    out
}

fn hex_float(a: f64, prec: Option<usize>, upper: bool) -> String {
    let bits = a.to_bits();
    let bexp = ((bits >> 52) & 0x7ff) as i32;
    let mut mant = bits & ((1u64 << 52) - 1);
    let mut exp;
    if a == 0.0 {
        exp = 0;
    } else if bexp == 0 {
        exp = -1022;
        while mant & (1u64 << 52) == 0 {
            mant <<= 1;
            exp -= 1;
        }
        mant &= (1u64 << 52) - 1;
    } else {
        exp = bexp - 1023;
    }
    let lead = if a == 0.0 { 0u64 } else { 1u64 };
    // 52 fraction bits = 13 hex digits.
    let mut frac = mant;
    let mut ndig = 13usize;
    let mut lead_digit = lead;
    if let Some(p) = prec {
        if p < 13 {
            let shift = (13 - p) * 4;
            let rem = frac & ((1u64 << shift) - 1);
            let half = 1u64 << (shift - 1);
            frac >>= shift;
            if rem > half || (rem == half && frac & 1 == 1) {
                frac += 1;
                if frac >> (p * 4) != 0 {
                    frac &= (1u64 << (p * 4)) - 1;
                    lead_digit += 1;
                    if lead_digit == 2 {
                        lead_digit = 1;
                        frac >>= 1;
                        exp += 1;
                    }
                }
            }
            ndig = p;
        }
    }
    let mut fs = if ndig == 0 {
        String::new()
    } else {
        format!("{frac:0ndig$x}")
    };
    match prec {
        None => fs = fs.trim_end_matches('0').to_string(),
        Some(p) => {
            while fs.len() < p {
                fs.push('0');
            }
        }
    }
    let mut out = format!("0x{lead_digit}");
    if !fs.is_empty() {
        out.push('.');
        out.push_str(&fs);
    }
    out.push('p');
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.unsigned_abs()));
    if upper {
        out.to_uppercase()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn floats_like_go() {
        assert_eq!(format_float(1e6, 'g', None), "1e+06");
        assert_eq!(format_float(0.1, 'g', None), "0.1");
        assert_eq!(format_float(123456.0, 'g', None), "123456");
        assert_eq!(format_float(1234567.0, 'g', Some(4)), "1.235e+06");
        assert_eq!(format_float(100.0, 'g', Some(4)), "100");
        assert_eq!(format_float(0.00001234, 'g', None), "1.234e-05");
        assert_eq!(format_float(1.0, 'e', Some(6)), "1.000000e+00");
        assert_eq!(format_float(2.5, 'f', Some(0)), "2");
        assert_eq!(format_float(1.0, 'x', None), "0x1p+00");
        assert_eq!(format_float(3.0, 'x', None), "0x1.8p+01");
        assert_eq!(format_float(1.0, 'b', None), "4503599627370496p-52");
        assert_eq!(crate::gofmt::sprint(&[Value::Float(f64::INFINITY)]), "+Inf");
        assert_eq!(
            crate::gofmt::sprint(&[Value::Float(1353755652.0)]),
            "1.353755652e+09"
        );
    }
}
