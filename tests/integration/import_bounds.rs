//! Hostile files given to `quyhoach import` (issue 10's file class, new instances): a zip
//! bomb, a sheet whose used range spans Excel's whole grid, a 100 MB shared-strings table. The
//! importer refuses each clearly, before reading it whole, with its peak memory (the child's
//! `ru_maxrss`, from `wait4`) close to what a small file costs.

use std::{io::Write, path::Path};

use zip::write::SimpleFileOptions;

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;
const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// Writes an xlsx of one sheet to `path`: `sheet_data` writes the worksheet's `sheetData`
/// content and `shared` the shared-strings table's items, each in pieces (so that a part of a
/// gigabyte never sits in memory here either).
fn workbook(
    path: &Path,
    sheet_data: impl FnOnce(&mut dyn Write),
    shared: impl FnOnce(&mut dyn Write),
) {
    let file = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(file);
    let o = SimpleFileOptions::default().large_file(true);
    let part = |z: &mut zip::ZipWriter<std::fs::File>, name: &str, text: &str| {
        z.start_file(name, o).unwrap();
        z.write_all(text.as_bytes()).unwrap();
    };
    part(
        &mut z,
        "[Content_Types].xml",
        &format!(
            r#"{HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#
        ),
    );
    part(
        &mut z,
        "_rels/.rels",
        &format!(
            r#"{HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
        ),
    );
    part(
        &mut z,
        "xl/workbook.xml",
        &format!(
            r#"{HEAD}<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets><sheet name="Danh sách" sheetId="1" r:id="rId1"/></sheets></workbook>"#
        ),
    );
    part(
        &mut z,
        "xl/_rels/workbook.xml.rels",
        &format!(
            r#"{HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#
        ),
    );
    z.start_file("xl/worksheets/sheet1.xml", o).unwrap();
    write!(z, r#"{HEAD}<worksheet xmlns="{MAIN}"><sheetData>"#).unwrap();
    sheet_data(&mut z);
    write!(z, "</sheetData></worksheet>").unwrap();
    z.start_file("xl/sharedStrings.xml", o).unwrap();
    write!(z, r#"{HEAD}<sst xmlns="{MAIN}">"#).unwrap();
    shared(&mut z);
    write!(z, "</sst>").unwrap();
    z.finish().unwrap();
}

/// A list's header row and one row, as inline strings.
fn small_list(w: &mut dyn Write) {
    write!(
        w,
        r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Họ và tên</t></is></c><c r="B1" t="inlineStr"><is><t>Số CCCD</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>Lê Văn An</t></is></c><c r="B2" t="inlineStr"><is><t>040080000001</t></is></c></row>"#
    )
    .unwrap();
}

/// `size` bytes of `byte`, written a mebibyte at a time.
fn filler(w: &mut dyn Write, byte: u8, size: usize) {
    let chunk = vec![byte; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        w.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
}

/// Runs `quyhoach import --dry-run FILE` and returns whether it succeeded, its output, and its
/// peak resident memory in bytes.
// The child is reaped by `wait4` below, which also reports its peak memory.
#[allow(clippy::zombie_processes)]
fn import(file: &Path) -> (bool, String, u64) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_quyhoach"))
        .args([
            "import",
            "--unit",
            "16681",
            "--term",
            "2025-2030",
            "--dry-run",
        ])
        .arg(file)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (mut out, mut err) = (child.stdout.unwrap(), child.stderr.unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).unwrap();
        s
    });
    let mut text = String::new();
    std::io::Read::read_to_string(&mut out, &mut text).unwrap();
    text.push_str(&reader.join().unwrap());
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; `pid` is our own child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let exited = libc::WIFEXITED(status);
    assert!(
        exited,
        "the importer died (signal {}): {text}",
        libc::WTERMSIG(status)
    );
    // ru_maxrss is in kibibytes on Linux.
    (ok, text, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_zip_bomb_a_whole_grid_sheet_and_huge_shared_strings_are_refused_with_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("nho.xlsx");
    workbook(&small, small_list, |_| {});
    let (_, text, baseline) = import(&small);
    assert!(!text.contains("too large"), "{text}");

    // One gigabyte of spaces in the sheet, a megabyte or so on disk.
    let bomb = dir.path().join("bom.xlsx");
    workbook(
        &bomb,
        |w| {
            small_list(w);
            filler(w, b' ', 1 << 30);
        },
        |_| {},
    );
    assert!(std::fs::metadata(&bomb).unwrap().len() < 8 << 20);
    // Two cells, at A1 and at Excel's last cell: the whole grid.
    let grid = dir.path().join("luoi.xlsx");
    workbook(
        &grid,
        |w| {
            small_list(w);
            write!(
                w,
                r#"<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>"#
            )
            .unwrap();
        },
        |_| {},
    );
    // A row of a million cells without references, each one column on.
    let wide = dir.path().join("rong.xlsx");
    workbook(
        &wide,
        |w| {
            small_list(w);
            write!(w, r#"<row r="3">"#).unwrap();
            for _ in 0..20_000 {
                write!(w, r#"<c t="inlineStr"><is><t>x</t></is></c>"#).unwrap();
            }
            write!(w, "</row>").unwrap();
            for r in 4..200 {
                write!(w, r#"<row r="{r}"><c r="A{r}"><v>1</v></c></row>"#).unwrap();
            }
        },
        |_| {},
    );
    // A shared-strings table of one 100 MB string.
    let strings = dir.path().join("chuoi.xlsx");
    workbook(&strings, small_list, |w| {
        write!(w, "<si><t>").unwrap();
        filler(w, b'a', 100 << 20);
        write!(w, "</t></si>").unwrap();
    });

    for (file, words) in [
        (&bomb, "unpacks to more than"),
        (&grid, "1048576 rows by 16384 columns"),
        (&wide, "columns"),
        (&strings, "unpacks to more than"),
    ] {
        let (ok, text, peak) = import(file);
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(!ok, "{name}: imported");
        assert!(
            text.contains("too large to be a list") && text.contains(words),
            "{name}: {text}"
        );
        println!(
            "{name}: peak {:.1} MiB, a small list {:.1} MiB",
            peak as f64 / 1048576.0,
            baseline as f64 / 1048576.0
        );
        assert!(
            peak < baseline + (24 << 20),
            "{name}: peak {peak} bytes against {baseline} for a small list"
        );
    }
}
