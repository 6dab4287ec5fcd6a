//! The frame every page shares: header with the navigation, the viewer, the language switch
//! and sign-out; then the page's own content.

use maud::{html, Markup, DOCTYPE};

use super::session::Viewer;

/// The navigation's entries: path, Vietnamese and English label.
const NAV: [(&str, &str, &str); 4] = [
    ("/", "Tổng quan", "Overview"),
    ("/tong-hop", "Danh sách tổng hợp", "Consolidated list"),
    ("/phat-hien", "Phát hiện", "Findings"),
    ("/co-cau", "Cơ cấu", "Structure"),
];

/// A whole page: `path` is the current one (for the language switch and the active tab).
pub fn page(viewer: &Viewer, title: &str, path: &str, content: Markup) -> Markup {
    let l = viewer.lang;
    let (other, other_label) = match l {
        super::i18n::Lang::Vi => ("en", "English"),
        super::i18n::Lang::En => ("vi", "Tiếng Việt"),
    };
    let switch = format!("/ngon-ngu?lang={other}&back={}", form_urlencoded_path(path));
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · quyhoach" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header.top {
                    div.brand { (l.t("Quy hoạch cán bộ", "Cadre planning")) }
                    nav {
                        @for (href, vi, en) in NAV {
                            @let here = path == href || (href != "/" && path.starts_with(href));
                            a href=(href) class=[here.then_some("active")] { (l.t(vi, en)) }
                        }
                    }
                    form.person-search method="get" action="/nguoi" {
                        input type="search" name="cccd" inputmode="numeric"
                            placeholder=(l.t("Số CCCD", "National ID")) aria-label=(l.t("Tra cứu theo số CCCD", "Look up by national ID"));
                        button type="submit" { (l.t("Tra cứu", "Look up")) }
                    }
                    div.who {
                        span id="viewer" { (viewer.label()) }
                        " · "
                        a id="lang-switch" href=(switch) { (other_label) }
                        @if !matches!(viewer.caller, crate::auth::Caller::Insecure) {
                            form.inline method="post" action="/dang-xuat" {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button.link type="submit" { (l.t("Đăng xuất", "Sign out")) }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// Percent-encodes a path with its query for use as a query value.
pub fn form_urlencoded_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
