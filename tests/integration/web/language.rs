//! The page speaks its viewer's language everywhere (issue 19): every page a signed-in
//! province approver can reach from the overview, walked over plain HTTP in Vietnamese and in
//! English, shows no raw name of the code (an enum's Debug name, a snake_case identifier, a
//! level's English code) and, in Vietnamese, none of the English labels of the page's
//! translation table (and in English none of its Vietnamese ones).

use std::collections::{BTreeSet, VecDeque};

use quyhoach::demo::{self, DemoOptions};

use super::access::Http;

/// The `(vietnamese, english)` pairs of every `l.t(…)` / `self.t(…)` in the web page's
/// source: the page's one translation table.
fn table() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            for part in src.split(".t(").skip(1) {
                let mut strings = part.splitn(5, '"');
                let (Some(_), Some(vi), Some(sep), Some(en)) = (
                    strings.next(),
                    strings.next(),
                    strings.next(),
                    strings.next(),
                ) else {
                    continue;
                };
                if sep.trim() == "," {
                    out.push((vi.to_string(), en.to_string()));
                }
            }
        }
    }
    out
}

/// The text a reader sees: tags, `<style>` and `<script>` removed, entities as they read.
fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        out.push('\n');
        rest = &rest[at..];
        for tag in ["<style", "<script"] {
            if rest.starts_with(tag) {
                let close = format!("</{}>", &tag[1..]);
                rest = rest.find(&close).map_or("", |e| &rest[e..]);
            }
        }
        rest = rest.find('>').map_or("", |e| &rest[e + 1..]);
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// True if and only if `text` holds `phrase` as whole words.
fn has_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// What `text` shows that the viewer of `lang` should not see.
fn untranslated(text: &str, lang: &str, table: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for w in words(text) {
        // A snake_case identifier (an audit action, a field name).
        if w.contains('_') && w.chars().any(|c| c.is_ascii_lowercase()) {
            found.push(w.to_string());
        }
        // An enum's Debug name: two capitalised words run together.
        let humps = w.chars().filter(char::is_ascii_uppercase).count();
        if humps >= 2 && w.chars().all(|c| c.is_ascii_alphabetic()) && w != w.to_uppercase() {
            found.push(w.to_string());
        }
    }
    let codes = [
        "commune",
        "district",
        "province",
        "male",
        "female",
        "draft",
        "adopted",
        "submitted",
        "received",
        "approved",
        "returned",
        "Approve",
        "Return",
    ];
    if lang == "vi" {
        for c in codes {
            if has_phrase(text, c) {
                found.push(c.to_string());
            }
        }
    }
    for (vi, en) in table {
        let (theirs, ours) = if lang == "vi" { (en, vi) } else { (vi, en) };
        // Labels the two languages write alike, and short ones (a word inside a name), are
        // no sign of the other language.
        // A one-word Vietnamese label ("Huyện") is part of many names on the English page.
        let one_word = lang == "en" && !theirs.contains(' ');
        if theirs == ours || theirs.chars().count() < 5 || one_word {
            continue;
        }
        if has_phrase(text, theirs) {
            found.push(theirs.clone());
        }
    }
    found
}

/// `html` without what people wrote: its audit records' detail cells and a decision's
/// reasons.
fn without_details(html: &str) -> String {
    let mut html = html.to_string();
    for (open, close) in [
        ("<td class=\"detail\">", "</td>"),
        ("<li class=\"reason\">", "</li>"),
    ] {
        let mut out = String::new();
        let mut rest = html.as_str();
        while let Some(at) = rest.find(open) {
            out.push_str(&rest[..at]);
            rest = rest[at..].find(close).map_or("", |e| &rest[at + e..]);
        }
        out.push_str(rest);
        html = out;
    }
    html
}

/// The page's own links from `html`: what a reader can follow (not downloads, the language
/// switch or sign-out).
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|s| s.replace("&amp;", "&"))
        .filter(|s| s.starts_with('/') && !s.starts_with("//"))
        .filter(|s| {
            !s.starts_with("/static")
                && !s.starts_with("/ngon-ngu")
                && !s.starts_with("/dang-xuat")
                && !s.contains(".csv")
                && !s.contains(".xlsx")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_speaks_its_viewers_language() {
    let table = table();
    assert!(
        table.len() > 100,
        "the translation table was read: {}",
        table.len()
    );
    let demo = demo::start_demo(DemoOptions::default(), &mut std::io::sink())
        .await
        .unwrap();
    let http = Http::new(&demo.web_url, Some(&demo.operator("40").ca_pem));
    let session = http
        .sign_in(&demo.login_url(&demo.operator("40")).await.unwrap())
        .await;
    // The district's returned plan, with its decision; a commune's plan with a ballot round.
    let seeds = [
        "/".to_string(),
        "/tong-hop".into(),
        "/phat-hien".into(),
        "/co-cau".into(),
        format!("/ke-hoach/412/{}/1", super::TERM),
    ];
    let mut problems = Vec::new();
    let mut walked = 0;
    for lang in ["vi", "en"] {
        let cookie = format!("{session}; qh_lang={lang}");
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut queue: VecDeque<String> = seeds.iter().cloned().collect();
        // Every kind of page is a few links from the overview; the walk is bounded.
        while let Some(path) = queue.pop_front() {
            // One of each kind of page beyond the first few of each.
            let kind: String = path.split(['?', '/']).take(2).collect::<Vec<_>>().join("/");
            let of_kind = seen.iter().filter(|p| p.starts_with(&kind)).count();
            if seen.len() >= 60 || of_kind >= 6 || !seen.insert(path.clone()) {
                continue;
            }
            let r = http.send("GET", &path, Some(&cookie), "").await;
            assert_eq!(r.status, 200, "{lang} {path}: {}", r.body);
            walked += 1;
            assert!(
                r.body.contains(&format!("<html lang=\"{lang}\"")),
                "{lang} {path}"
            );
            let text = visible(&r.body);
            // What people wrote (an audit record's detail, a decision's reasons, in Vietnamese)
            // is shown as written, its raw names translated: no labels are looked for in it.
            let labels = visible(&without_details(&r.body));
            let mut bad = untranslated(&text, lang, &[]);
            bad.extend(untranslated(&labels, lang, &table));
            for bad in bad {
                let at = text.find(&bad).unwrap_or(0);
                let line = text[..at].rsplit('\n').next().unwrap_or("").to_string()
                    + text[at..].split('\n').next().unwrap_or("");
                problems.push(format!("{lang} {path}: {bad:?} in {line:?}"));
            }
            queue.extend(links(&r.body));
        }
        // Every kind of page was reached: the overview, the list, a plan, a person, the
        // findings, the structure and the appraisal.
        for kind in [
            "/tong-hop",
            "/ke-hoach/",
            "/nguoi/",
            "/phat-hien",
            "/co-cau",
            "/tham-dinh",
        ] {
            assert!(
                seen.iter().any(|p| p.starts_with(kind)),
                "{lang}: no {kind} page walked"
            );
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{} pages walked; untranslated:\n{}",
        walked,
        problems.join("\n")
    );
    demo.stop().await.unwrap();
}
