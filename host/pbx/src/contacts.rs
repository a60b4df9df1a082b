//! The phone book's service layer, shared by the cabinet's API and the CLI: CSV import (the
//! files office managers export from Excel or a CRM) and export, with errors that name the line.

use pbx_store::{CheckedContact, Contact, NewContact, StoreError};

/// Largest CSV accepted for import, bytes.
pub const MAX_IMPORT_BYTES: usize = 8 << 20;

/// Why an import was refused; nothing is stored when any line is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not UTF-8 text.
    #[error("the file is not UTF-8 text: save it as \"CSV UTF-8\"")]
    NotUtf8,
    /// The file is too large.
    #[error("the file is larger than {} MB", MAX_IMPORT_BYTES >> 20)]
    TooLarge,
    /// The header lacks a column.
    #[error("the first line must name the columns: number and name (company and note are optional)")]
    NoHeader,
    /// A line breaks a rule.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line of the file.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file lists no contact.
    #[error("the file lists no contact")]
    Empty,
}

/// Column names recognised in the header, English and Russian.
fn column(name: &str) -> Option<&'static str> {
    match name.trim().to_lowercase().as_str() {
        "number" | "phone" | "номер" | "телефон" => Some("number"),
        "name" | "имя" | "контакт" => Some("name"),
        "company" | "компания" | "организация" => Some("company"),
        "note" | "comment" | "примечание" | "комментарий" => Some("note"),
        _ => None,
    }
}

/// Parses a CSV file (comma or semicolon separated, optional UTF-8 BOM, header line first)
/// into checked contacts; a number listed twice keeps its last line.
pub fn parse_csv(bytes: &[u8], country_code: &str) -> Result<Vec<CheckedContact>, ImportError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ImportError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or_default();
    let delimiter = if first.matches(';').count() > first.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|_| ImportError::NoHeader)?.clone();
    let columns: Vec<Option<&str>> = headers.iter().map(column).collect();
    let index = |name: &str| columns.iter().position(|c| *c == Some(name));
    let (Some(num_i), Some(name_i)) = (index("number"), index("name")) else {
        return Err(ImportError::NoHeader);
    };
    let (company_i, note_i) = (index("company"), index("note"));
    let mut out: Vec<CheckedContact> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for record in reader.records() {
        let record = record
            .map_err(|e| ImportError::Line { line: e.position().map(|p| p.line()).unwrap_or(0), reason: "cannot be read as CSV".into() })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let field = |i: Option<usize>| undefuse(i.and_then(|i| record.get(i)).unwrap_or_default());
        let c = NewContact { number: field(Some(num_i)), name: field(Some(name_i)), company: field(company_i), note: field(note_i) }
            .check(country_code)
            .map_err(|e| ImportError::Line { line, reason: e.to_string() })?;
        if out.len() as i64 >= pbx_store::contacts::MAX_CONTACTS_PER_TENANT && !seen.contains_key(c.number()) {
            return Err(ImportError::Line {
                line,
                reason: format!("a company keeps at most {} contacts", pbx_store::contacts::MAX_CONTACTS_PER_TENANT),
            });
        }
        match seen.get(c.number()) {
            Some(&i) => out[i] = c,
            None => {
                seen.insert(c.number().to_string(), out.len());
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(out)
}

/// The UTF-8 byte order mark: spreadsheet programs (Excel) read Cyrillic in a CSV file only
/// after it.
pub const BOM: &str = "\u{feff}";

/// The separator of an exported CSV file: a comma, or a semicolon for spreadsheet programs
/// in locales whose decimal mark is a comma (Excel in Russian splits on `;` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvDelimiter {
    /// `,` (RFC 4180).
    #[default]
    Comma,
    /// `;`.
    Semicolon,
}

impl CsvDelimiter {
    /// From a query's `delimiter` (`comma` or `semicolon`; none: a comma).
    pub fn parse(v: Option<&str>) -> Result<CsvDelimiter, String> {
        match v.map(str::trim) {
            None | Some("") | Some("comma") => Ok(CsvDelimiter::Comma),
            Some("semicolon") => Ok(CsvDelimiter::Semicolon),
            Some(_) => Err("`delimiter` must be comma or semicolon".into()),
        }
    }

    /// The separator itself.
    pub fn byte(self) -> u8 {
        match self {
            CsvDelimiter::Comma => b',',
            CsvDelimiter::Semicolon => b';',
        }
    }
}

/// The first bytes of an exported phone book: a BOM and the header line [`parse_csv`]
/// reads back.
pub fn csv_head(d: CsvDelimiter) -> Vec<u8> {
    let sep = char::from(d.byte());
    format!("{BOM}number{sep}name{sep}company{sep}note\r\n").into_bytes()
}

/// Lines of the phone book as CSV (without [`csv_head`]).
pub fn csv_rows(contacts: &[Contact], d: CsvDelimiter) -> Result<Vec<u8>, StoreError> {
    let mut w = csv::WriterBuilder::new().delimiter(d.byte()).terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let fail = |e: csv::Error| StoreError::Invalid(format!("cannot write CSV: {e}"));
    for c in contacts {
        let cells = [&c.number, &c.name, &c.company, &c.note].map(|s| defuse(s));
        w.write_record(&cells).map_err(fail)?;
    }
    w.into_inner().map_err(|e| StoreError::Invalid(format!("cannot write CSV: {e}")))
}

/// The whole phone book as CSV (the CLI's export; the API streams it page by page).
pub fn to_csv(contacts: &[Contact]) -> Result<Vec<u8>, StoreError> {
    let mut out = csv_head(CsvDelimiter::Comma);
    out.extend(csv_rows(contacts, CsvDelimiter::Comma)?);
    Ok(out)
}

/// Makes text safe to open in a spreadsheet: an apostrophe goes before every `=`, `+`, `-`
/// or `@` that would start a cell, at the start of the text or after a `;`, `,` or tab
/// (Excel in the Russian locale splits on `;`), except for a whole E.164 number.
pub fn defuse(s: &str) -> String {
    let e164 = s.strip_prefix('+').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    if e164 {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    let mut cell_start = true;
    for c in s.chars() {
        if cell_start && matches!(c, '=' | '+' | '-' | '@') {
            out.push('\'');
        }
        cell_start = matches!(c, ';' | ',' | '\t') || (cell_start && c == ' ');
        out.push(c);
    }
    out
}

/// Undoes [`defuse`]'s apostrophe when an exported file comes back.
fn undefuse(s: &str) -> String {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest.to_string(),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_files_with_semicolons_bom_and_russian_headers_import() {
        let file = "\u{feff}Телефон;Имя;Компания\r\n8 (495) 123-45-67;Иван Петров;\r\n\r\n+7 916 000-00-01;Анна;\"ООО \"\"Ромашка; и Ко\"\"\"\r\n84951234567;Иван П.;\r\n";
        let got = parse_csv(file.as_bytes(), "7").unwrap();
        assert_eq!(got.len(), 2, "a number listed twice keeps its last line");
        assert_eq!(got[0].number(), "+74951234567");
        assert_eq!(got[0].name(), "Иван П.");
        assert_eq!(got[1].name(), "Анна");
        assert_eq!(got[1].company(), "ООО \"Ромашка; и Ко\"");
        let stored: Vec<Contact> = got
            .iter()
            .enumerate()
            .map(|(i, c)| Contact {
                id: i as i64,
                tenant_id: 1,
                number: c.number().to_string(),
                name: c.name().to_string(),
                company: c.company().to_string(),
                note: String::new(),
                source: String::new(),
                updated_at: 0,
            })
            .collect();
        let csv = to_csv(&stored).unwrap();
        // What is exported imports back the same.
        let again = parse_csv(&csv, "7").unwrap();
        assert_eq!(
            again.iter().map(|c| (c.number(), c.name())).collect::<Vec<_>>(),
            vec![("+74951234567", "Иван П."), ("+79160000001", "Анна")]
        );
        assert_eq!(again[1].company(), "ООО \"Ромашка; и Ко\"");
    }

    #[test]
    fn a_bad_line_is_named_and_nothing_imports() {
        let file = "number,name\n+74951234567,Ivan\nnot-a-number,Anna\n";
        match parse_csv(file.as_bytes(), "7") {
            Err(ImportError::Line { line: 3, reason }) => assert!(reason.contains("not a telephone number"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_csv(b"a,b\n1,2\n", "7"), Err(ImportError::NoHeader)));
        assert!(matches!(parse_csv(b"number,name\n", "7"), Err(ImportError::Empty)));
        assert!(matches!(parse_csv(&[0xff, 0xfe, 0x00], "7"), Err(ImportError::NotUtf8)));
    }

    #[test]
    fn exported_cells_cannot_run_as_formulas() {
        let c = Contact {
            id: 1,
            tenant_id: 1,
            number: "+74951234567".into(),
            name: "=HYPERLINK(\"x\")".into(),
            company: "-2+3".into(),
            note: String::new(),
            source: String::new(),
            updated_at: 0,
        };
        let text = String::from_utf8(to_csv(std::slice::from_ref(&c)).unwrap()).unwrap();
        assert!(text.contains("+74951234567,"), "{text}");
        assert!(text.contains("'=HYPERLINK") && text.contains("'-2+3"), "{text}");
        // Excel in the Russian locale splits on semicolons: every cell it would make is safe.
        assert_eq!(defuse("x;=1+2"), "x;'=1+2");
        assert_eq!(defuse("a, @SUM(1)\t+3"), "a, '@SUM(1)\t'+3");
        assert_eq!(defuse("+7 495"), "'+7 495");
        // What was defused imports back as it was.
        let again = parse_csv(text.as_bytes(), "7").unwrap();
        assert_eq!(again[0].name(), c.name);
    }
}
