//! Human tables or JSON.

use serde::Serialize;

/// Where results go: stdout, as a table or as JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    pub(crate) fn is_json(&self) -> bool {
        self.json
    }

    /// Prints `value` as JSON, or `human()` as text.
    pub(crate) fn show<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            println!("{}", human());
        }
    }

    /// A plain message (JSON: `{"message": …}`).
    pub(crate) fn message(&self, text: &str) {
        self.show(&serde_json::json!({ "message": text }), || text.to_owned());
    }
}

/// A left-aligned text table. Cells are printed with [`escape`], so a name stored
/// with a control or bidirectional character cannot spoof the listing.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| escape(cell)).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| (*h).to_owned()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

/// `text` with every character that is not shown as itself written as a Rust escape:
/// control characters (`\n`, `\u{1b}`), bidirectional controls (`\u{202e}`),
/// invisible format characters (`\u{200b}`) and separators; a backslash is doubled so
/// an escape cannot be faked. Everything else, quotes included, is unchanged.
pub(crate) fn escape(text: &str) -> String {
    // `str::escape_debug` escapes exactly the characters Rust does not print as
    // themselves (combining marks only at the start, so scripts that use them read as
    // usual), and quotes, which a table has no reason to escape: every backslash it
    // writes is doubled, so `\"` and `\'` are always its escaped quotes.
    text.escape_debug()
        .to_string()
        .replace("\\\"", "\"")
        .replace("\\'", "'")
}

/// A time for humans, or `-`.
pub(crate) fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let t = super::table(
            &["ID", "NAME"],
            &[
                vec!["key_1".into(), "a".into()],
                vec!["k".into(), "long name".into()],
            ],
        );
        assert_eq!(t, "ID     NAME\nkey_1  a\nk      long name");
    }

    #[test]
    fn escape_keeps_what_prints_as_itself() {
        for same in [
            "CI pipeline",
            "O'Brien \"prod\"",
            "हिन्दी",
            "café",
            "数据",
            "☕",
        ] {
            assert_eq!(super::escape(same), same);
        }
        assert_eq!(super::escape(r#"\""#), r#"\\""#);
        assert_eq!(super::escape("\u{2066}x\u{2069}"), r"\u{2066}x\u{2069}");
    }

    #[test]
    fn control_and_bidi_characters_in_cells_are_escaped() {
        // A name stored before names were checked: printed as is, the override would
        // show "invoiceexe.pdf" and the escape would clear the screen.
        let t = super::table(
            &["ID", "NAME"],
            &[
                vec!["key_1".into(), "invoice\u{202E}fdp.exe".into()],
                vec!["key_2".into(), "a\u{1b}[2Jb\u{200B}\nc\\d".into()],
            ],
        );
        assert_eq!(
            t,
            "ID     NAME\nkey_1  invoice\\u{202e}fdp.exe\nkey_2  a\\u{1b}[2Jb\\u{200b}\\nc\\\\d"
        );
        assert!(!t.chars().any(|c| c == '\u{202E}' || c == '\u{1b}'));
    }
}
