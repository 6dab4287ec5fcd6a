//! Where an export may write (issue 10's file class, new instances): never through a symbolic
//! link, never into a folder that does not exist or onto a folder, each refused before the
//! node is asked; and every export, the official layout too, is readable by its owner only.

use std::os::unix::fs::PermissionsExt;

use crate::procs::{quyhoach, run};

/// `quyhoach export` of the consolidated list to `out`, from a node that is not there.
async fn export_to(out: &std::path::Path) -> (bool, String) {
    let export = [
        "export",
        "--node",
        "127.0.0.1:1",
        "--what",
        "consolidated",
        "--out",
    ];
    run(quyhoach().args(export).arg(out)).await.said()
}

#[tokio::test]
async fn an_export_is_never_written_through_a_link_into_a_missing_folder_or_onto_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    // Someone else's file, and a link to it where the clerk exports.
    let victim = dir.path().join("cua-nguoi-khac.txt");
    std::fs::write(&victim, "giữ nguyên").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path().join("tong-hop.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let dangling = dir.path().join("tong-hop.xlsx");
    std::os::unix::fs::symlink(dir.path().join("chua-co.xlsx"), &dangling).unwrap();
    let folder = dir.path().join("thu-muc.json");
    std::fs::create_dir(&folder).unwrap();
    let missing = dir.path().join("khong-co").join("tong-hop.csv");

    for (out, words) in [
        (&link, "symbolic link"),
        (&dangling, "symbolic link"),
        (&folder, "is a folder"),
        (&missing, "does not exist"),
    ] {
        let (ok, said) = export_to(out).await;
        assert!(!ok, "{}: {said}", out.display());
        assert!(said.contains(words), "{}: {said}", out.display());
        assert!(
            !said.contains("reach") && !said.contains("connect"),
            "refused before the node is asked: {said}"
        );
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "giữ nguyên");
    let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the link's target keeps its mode");
    assert!(!dir.path().join("chua-co.xlsx").exists());
    assert!(!missing.parent().unwrap().exists());
}
