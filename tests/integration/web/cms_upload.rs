//! The approve form's signature file in headless Chromium (issue 25): a district that names a
//! test signing authority (`serve --signing-ca`, its open page of an `--insecure` node), a
//! commune's version 1 awaiting its decision. The approver chooses a `.p7s` signed over other
//! bytes and clicks Approve: the page shows the reason, naming `cms_signature`, and the version
//! stays received. With the file signed over the version's hash, the approval is made and
//! `GetPlan` names the signer.

use std::time::Duration;

use fantoccini::Locator;
use quyhoach::{grpc::pb, pki::Authority};

use super::browser::{browser, shoot, text, wait_url};
use crate::{
    harness::TERM,
    signatures::{sign, signer, version_1, Signing},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_uploads_the_cms_signature_file_on_the_approve_form() {
    let ca = Authority::create("Ban Cơ yếu Chính phủ (thử)", 30).unwrap();
    let approver = signer(&ca, "Trần Văn Phê Duyệt", -1, 365);
    let net = Signing::start(Some(&ca)).await;
    let page = format!(
        "{}/ke-hoach/16681/{TERM}/1",
        net.district.web_url().unwrap()
    );
    let content = quyhoach::signature::approval_content(&net.hash);
    let other = net.dir.path().join("khac.p7s");
    std::fs::write(&other, sign(&approver, b"other bytes")).unwrap();
    let good = net.dir.path().join("phe-duyet.p7s");
    std::fs::write(&good, sign(&approver, &content)).unwrap();

    let b = browser().await;
    let c = &b.client;
    let page = &page;
    let approve_with = |file: std::path::PathBuf| async move {
        c.goto(page).await.unwrap();
        c.find(Locator::Css("#approve-form #cms"))
            .await
            .unwrap()
            .send_keys(&file.display().to_string())
            .await
            .unwrap();
        c.find(Locator::Css("#approve"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    };

    // Signed over other bytes: refused on the page with its reason; nothing decided.
    approve_with(other).await;
    wait_url(c, "quyet-dinh").await;
    let said = text(c, "#error").await;
    assert!(said.contains("cms_signature"), "{said}");
    shoot(c, "approve-cms-refused").await;
    assert_eq!(
        version_1(&net.district).await.status,
        pb::PlanStatus::Received as i32,
        "nothing decided"
    );

    // Signed over the version's hash: approved, the signer kept with the decision.
    approve_with(good).await;
    let mut plan = version_1(&net.district).await;
    for _ in 0..200 {
        if plan.status == pb::PlanStatus::Approved as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        plan = version_1(&net.district).await;
    }
    assert_eq!(plan.status, pb::PlanStatus::Approved as i32);
    let kept = plan.approval_signature.expect("the CMS signature is kept");
    assert_eq!(kept.signer, "Trần Văn Phê Duyệt");
    b.client.clone().close().await.unwrap();
    net.stop().await;
}
