//! The pieces of Go's `mime`, `mime/quotedprintable` and `net/mail` that
//! Alertmanager's email notifier relies on, reproduced so that messages are
//! encoded the same way: Q-encoded header words, quoted-printable bodies,
//! multipart boundaries and address lists.

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Longest encoded-word content: 75 minus `=?utf-8?q?` and `?=`.
const MAX_WORD_CONTENT: usize = 63;

/// Go's `mime.QEncoding.Encode("utf-8", s)`: the text unchanged when it is
/// printable ASCII, otherwise `=?utf-8?q?…?=` words that never split a
/// character.
pub fn q_encode(s: &str) -> String {
    let needs = s.bytes().any(|b| !(b' '..=b'~').contains(&b) && b != b'\t');
    if !needs {
        return s.to_string();
    }
    let mut out = String::from("=?utf-8?q?");
    let mut len = 0;
    for c in s.chars() {
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        let plain =
            bytes.len() == 1 && (b' '..=b'~').contains(&bytes[0]) && !b"=?_".contains(&bytes[0]);
        let enc_len = if plain { 1 } else { 3 * bytes.len() };
        if len + enc_len > MAX_WORD_CONTENT {
            out.push_str("?= =?utf-8?q?");
            len = 0;
        }
        for &b in bytes {
            if b == b' ' {
                out.push('_');
            } else if plain {
                out.push(b as char);
            } else {
                out.push('=');
                out.push(UPPER_HEX[usize::from(b >> 4)] as char);
                out.push(UPPER_HEX[usize::from(b & 0x0f)] as char);
            }
        }
        len += enc_len;
    }
    out.push_str("?=");
    out
}

/// Go's `quotedprintable.Writer` (text mode): lines of at most 76
/// characters with `=` soft breaks, line ends as CRLF, trailing spaces
/// and tabs before a line end encoded.
pub fn quoted_printable(s: &str) -> String {
    let mut w = Qp::default();
    for &b in s.as_bytes() {
        let plain =
            ((b'!'..=b'~').contains(&b) && b != b'=') || matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        if plain {
            w.write(b);
        } else {
            w.encode(b);
        }
    }
    w.check_last();
    w.out.extend_from_slice(&w.line);
    String::from_utf8_lossy(&w.out).into_owned()
}

#[derive(Default)]
struct Qp {
    out: Vec<u8>,
    line: Vec<u8>,
    cr: bool,
}

impl Qp {
    fn write(&mut self, b: u8) {
        if b == b'\n' || b == b'\r' {
            if self.cr && b == b'\n' {
                self.cr = false;
                return;
            }
            if b == b'\r' {
                self.cr = true;
            }
            self.check_last();
            self.crlf();
            return;
        }
        if self.line.len() == 75 {
            self.soft_break();
        }
        self.line.push(b);
        self.cr = false;
    }

    fn encode(&mut self, b: u8) {
        if 75 - self.line.len().min(75) < 3 {
            self.soft_break();
        }
        self.line.push(b'=');
        self.line.push(UPPER_HEX[usize::from(b >> 4)]);
        self.line.push(UPPER_HEX[usize::from(b & 0x0f)]);
    }

    fn check_last(&mut self) {
        if let Some(&b) = self.line.last() {
            if b == b' ' || b == b'\t' {
                self.line.pop();
                self.encode(b);
            }
        }
    }

    fn soft_break(&mut self) {
        self.line.push(b'=');
        self.crlf();
    }

    fn crlf(&mut self) {
        self.line.extend_from_slice(b"\r\n");
        self.out.append(&mut self.line);
    }
}

/// A random multipart boundary: 60 hex digits, like Go's.
pub fn boundary() -> Result<String, getrandom::Error> {
    let mut r = [0u8; 30];
    getrandom::getrandom(&mut r)?;
    Ok(r.iter().map(|b| format!("{b:02x}")).collect())
}

/// The addresses of an RFC 5322 address list (`a@x, "B, C" <b@y>`): the
/// part inside angle brackets when present, else the whole entry.
pub fn parse_address_list(s: &str) -> Result<Vec<String>, String> {
    let mut entries = Vec::new();
    let (mut cur, mut quoted, mut angle) = (String::new(), false, false);
    for c in s.chars() {
        match c {
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                entries.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    entries.push(cur);
    let mut out = Vec::new();
    for e in entries {
        let e = e.trim();
        if e.is_empty() {
            return Err("mail: no address".to_string());
        }
        let addr = match (e.rfind('<'), e.rfind('>')) {
            (Some(a), Some(b)) if a < b => e[a + 1..b].trim(),
            (None, None) => e,
            _ => return Err("mail: unclosed angle-addr".to_string()),
        };
        match addr.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {}
            _ => return Err("mail: missing @ in addr-spec".to_string()),
        }
        if addr.chars().any(char::is_whitespace) {
            return Err(format!("mail: invalid address {addr:?}"));
        }
        out.push(addr.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_words() {
        assert_eq!(q_encode("[FIRING:1] Disk"), "[FIRING:1] Disk");
        assert_eq!(q_encode("café ok"), "=?utf-8?q?caf=C3=A9_ok?=");
        let long = "é".repeat(30);
        let enc = q_encode(&long);
        assert!(enc.split(' ').all(|w| w.len() <= 75), "{enc}");
    }

    #[test]
    fn qp_lines() {
        assert_eq!(quoted_printable("a=b \nc"), "a=3Db=20\r\nc");
        let long = "x".repeat(80);
        assert_eq!(
            quoted_printable(&long),
            format!("{}=\r\n{}", "x".repeat(75), "x".repeat(5))
        );
        assert_eq!(quoted_printable("é"), "=C3=A9");
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address_list("a@x, \"B, C\" <b@y>").unwrap(),
            ["a@x", "b@y"]
        );
        assert!(parse_address_list("nobody").is_err());
        assert!(parse_address_list("").is_err());
    }
}
