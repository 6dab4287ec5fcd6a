//! A withdrawal after a bundle left (issue 21, "a queued version can be withdrawn by its
//! owner"): a district whose only link is a folder withdraws its submitted version while the
//! bundle still waits in `DIR/up/` (the node removes its own file and withdraws: nothing stale
//! is left to carry), but not once the file was carried out of `up/`, nor once `bundle export`
//! answered it (FAILED_PRECONDITION naming the file and when it was written; nothing changed,
//! and the bundle that left still imports at the province as a valid push).

use std::path::Path;

use quyhoach::{auth::Role, grpc::pb, pki::Authority};
use tonic::transport::Channel;

use crate::{
    bundles::{
        adopt_district_plan, as_person, bundle_appears, bundles_in, folder_district, submit,
        sync_status, Office,
    },
    harness::{district_entry, start_tls, wait_status, TERM},
};

type Client = pb::planning_client::PlanningClient<Channel>;

async fn withdraw(c: &mut Client) -> Result<pb::Plan, tonic::Status> {
    c.withdraw_submission(pb::WithdrawSubmissionRequest {
        unit: "412".into(),
        term: TERM.into(),
    })
    .await
    .map(|r| r.into_inner())
}

async fn latest(c: &mut Client) -> pb::Plan {
    c.get_plan(pb::GetPlanRequest {
        unit: "412".into(),
        term: TERM.into(),
        version: 0,
    })
    .await
    .unwrap()
    .into_inner()
}

async fn outbox(c: &mut Client) -> u64 {
    sync_status(c).await.parent.map_or(0, |p| p.outbox_length)
}

/// Nothing but the bundle files (and their temporary files) in `dir`.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A province and district 412 over TLS, the district linked only by the folder `usb`, whose
/// clerk adopted and submitted the district's plan; its push bundle is in `usb/up`.
struct Submitted {
    dir: tempfile::TempDir,
    ca: Authority,
    province: quyhoach::server::Running,
    usb: std::path::PathBuf,
    district: quyhoach::server::Running,
    clerk: Client,
    /// The adopted version.
    first: pb::Plan,
    /// Its push bundle in `usb/up`.
    pushed: std::path::PathBuf,
}

async fn submitted_by_folder() -> Submitted {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).unwrap();
    let province = start_tls(d, &ca, "40", None).await;
    let usb = d.join("usb");
    let district = folder_district(d, &ca, &usb).await;
    let mut clerk = as_person(&district.addr.to_string(), &ca, "412", &[Role::Clerk]).await;
    let first = adopt_district_plan(&mut clerk, 3, "Lê Hữu Phước").await;
    submit(&mut clerk).await;
    let pushed = bundle_appears(&usb.join("up"), "push-412-2025-2030-v1").await;
    Submitted {
        dir,
        ca,
        province,
        usb,
        district,
        clerk,
        first,
        pushed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bundle_still_in_up_is_removed_and_the_version_withdrawn() {
    let Submitted {
        dir,
        ca,
        province,
        usb,
        district,
        mut clerk,
        first,
        pushed,
    } = submitted_by_folder().await;
    let d = dir.path();

    let back = withdraw(&mut clerk)
        .await
        .expect("withdrawn while its file waits in up/");
    assert_eq!(back.status, pb::PlanStatus::Draft as i32);
    assert!(!pushed.exists(), "the node removed its own bundle");
    assert!(
        files_in(&usb.join("up")).is_empty(),
        "{:?}",
        files_in(&usb.join("up"))
    );
    assert_eq!(outbox(&mut clerk).await, 0);
    let audit = clerk
        .audit(pb::AuditRequest {
            unit: "412".into(),
            action: "withdraw_submission".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(
        audit.len() == 1
            && audit[0]
                .detail
                .contains("push-412-2025-2030-v1-submitted.qhb"),
        "the withdrawal's record names the file removed: {audit:?}"
    );

    // Corrected and submitted again: the folder link writes the new content, which is the one
    // the province receives; no bundle of the withdrawn content exists to be carried.
    clerk
        .put_entry(pb::PutEntryRequest {
            unit: "412".into(),
            term: TERM.into(),
            entry: Some(district_entry(4, "Phan Thị Hoa", "412")),
        })
        .await
        .unwrap();
    let adopted = clerk
        .adopt_plan(pb::AdoptPlanRequest {
            unit: "412".into(),
            term: TERM.into(),
            adopted_on: String::new(),
            revision: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(adopted.hash, first.hash);
    submit(&mut clerk).await;
    let again = bundle_appears(&usb.join("up"), "push-412-2025-2030-v1").await;
    let office = Office::new(d, &ca, province.addr.to_string(), "40");
    let (ok, text) = office.import(&again).await.said();
    assert!(ok, "{text}");
    let mut reader = as_person(&province.addr.to_string(), &ca, "40", &[Role::Reader]).await;
    let held = wait_status(&mut reader, "412", pb::PlanStatus::Received).await;
    assert_eq!(
        held.hash, adopted.hash,
        "the province holds the corrected content"
    );

    district.stop().await.unwrap();
    province.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bundle_carried_out_of_up_or_exported_refuses_the_withdrawal() {
    let Submitted {
        dir,
        ca,
        province,
        usb: _,
        district,
        mut clerk,
        first: _,
        pushed,
    } = submitted_by_folder().await;
    let d = dir.path();
    let name = pushed.file_name().unwrap().to_string_lossy().into_owned();

    // `bundle export` at the district answers the same push to the clerk's command.
    let district_office = Office::new(d, &ca, district.addr.to_string(), "412");
    let exported = d.join("export").join(&name);
    std::fs::create_dir_all(exported.parent().unwrap()).unwrap();
    let (ok, text) = district_office.export(&exported).await.said();
    assert!(ok, "{text}");
    let before = latest(&mut clerk).await;
    let refused = withdraw(&mut clerk).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused}");
    let said = refused.message();
    assert!(
        said.contains(&name)
            && said.contains("bundle export")
            && said.contains("ask 40 to return it"),
        "{said}"
    );
    let today = chrono::Utc::now().date_naive().to_string();
    assert!(said.contains(&today), "names when it was written: {said}");
    assert_eq!(latest(&mut clerk).await, before, "nothing changed");
    assert_eq!(outbox(&mut clerk).await, 1);
    assert!(pushed.exists(), "the folder's file is left alone");

    // The bundle that left is a valid push: the province takes it.
    let office = Office::new(d, &ca, province.addr.to_string(), "40");
    let (ok, text) = office.import(&exported).await.said();
    assert!(ok, "{text}");
    let mut reader = as_person(&province.addr.to_string(), &ca, "40", &[Role::Reader]).await;
    let held = wait_status(&mut reader, "412", pb::PlanStatus::Received).await;
    assert_eq!(held.hash, before.hash);
    district.stop().await.unwrap();
    province.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bundle_moved_out_of_up_refuses_the_withdrawal_and_is_not_written_again() {
    let Submitted {
        dir,
        ca,
        province,
        usb,
        district,
        mut clerk,
        first: _,
        pushed,
    } = submitted_by_folder().await;
    let d = dir.path();
    let name = pushed.file_name().unwrap().to_string_lossy().into_owned();

    // Carried: moved onto the stick's own folder.
    let carried = d.join("stick").join(&name);
    std::fs::create_dir_all(carried.parent().unwrap()).unwrap();
    std::fs::rename(&pushed, &carried).unwrap();
    // The link's next pass says nothing waits in up/ any more: it did not write it again.
    let waiting = crate::procs::eventually(20, "the link to see up/ emptied", || {
        let mut c = clerk.clone();
        async move {
            let error = sync_status(&mut c).await.parent?.last_error;
            error
                .contains("every bundle was carried; waiting for the parent's receipt")
                .then_some(error)
        }
    })
    .await;
    assert!(bundles_in(&usb.join("up")).is_empty(), "{waiting}");
    let before = latest(&mut clerk).await;
    let refused = withdraw(&mut clerk).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused}");
    assert!(
        refused.message().contains(&name) && refused.message().contains("no longer there"),
        "{}",
        refused.message()
    );
    assert_eq!(latest(&mut clerk).await, before, "nothing changed");
    assert_eq!(outbox(&mut clerk).await, 1);
    assert!(
        bundles_in(&usb.join("up")).is_empty(),
        "a carried bundle is not written again"
    );

    // The province takes the carried bundle; its receipt closes the outbox item.
    let office = Office::new(d, &ca, province.addr.to_string(), "40");
    let (ok, text) = office.import(&carried).await.said();
    assert!(ok, "{text}");
    let mut reader = as_person(&province.addr.to_string(), &ca, "40", &[Role::Reader]).await;
    let held = wait_status(&mut reader, "412", pb::PlanStatus::Received).await;
    assert_eq!(held.hash, before.hash);
    district.stop().await.unwrap();
    province.stop().await.unwrap();
}
