//! Reference data down a folder (issue 25, "decisions and reference data come down the same
//! way"): a province whose rules file changes the quorum, a district whose only link is a folder
//! (`serve --parent-dir`), and a clerk carrying `bundle export --reference` into its `down/`.
//! The district takes the version by the path a gRPC `GetReference` answer takes, reports it
//! and judges ballot rounds by it; a reference bundle sealed by a sibling, one from a sibling,
//! one altered by a byte and one with rule parameters out of range are refused with their
//! reason and change nothing; the same bundle twice changes nothing.

use std::path::Path;

use quyhoach::{
    auth::Role,
    bundle::{
        format::{self, Content},
        sign::Signer,
    },
    config::RawConfig,
    grpc::pb,
    node::Reference,
    pki::{Authority, Subject},
};

use crate::{
    bundles::{as_person, carry, folder_district, sync_status, Office},
    harness::{district_entry, draft_with, round, start_with, tls_config, TERM},
    procs::{cli, eventually},
};

/// A quorum no round of the harness (28 present of 30 convened) meets: 29/30.
const STRICT_QUORUM: &str = "[qd50]\nquorum_num = 29\nquorum_den = 30\n\
                             [qd377]\nquorum_num = 29\nquorum_den = 30\n";

async fn record_round(
    c: &mut quyhoach::grpc::pb::planning_client::PlanningClient<tonic::transport::Channel>,
) -> Result<(), tonic::Status> {
    c.record_ballot_round(pb::RecordBallotRoundRequest {
        unit: "412".into(),
        term: TERM.into(),
        round: Some(round(&[(3, "D.PCT.UBND", 20)])),
    })
    .await
    .map(|_| ())
}

/// The node signer of `unit` from the files `tls_config` wrote under `dir/nodes`.
fn node_key(dir: &Path, ca: &Authority, unit: &str) -> Signer {
    let nodes = dir.join("nodes");
    Signer::from_pem(
        &std::fs::read_to_string(nodes.join(format!("{unit}.key"))).unwrap(),
        &std::fs::read_to_string(nodes.join(format!("{unit}.pem"))).unwrap(),
        &ca.cert_pem,
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn reference_data_comes_down_a_folder_as_a_sealed_bundle_and_forgeries_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).unwrap();
    // The province's rules file sets a stricter quorum than the built-in one.
    let rules = d.join("rules.toml");
    std::fs::write(&rules, STRICT_QUORUM).unwrap();
    let province = start_with(RawConfig {
        rules_file: Some(rules),
        ..tls_config(d, &ca, "40", None)
    })
    .await;
    let usb = d.join("usb");
    let district = folder_district(d, &ca, &usb).await;
    let office40 = Office::new(d, &ca, province.addr.to_string(), "40");
    let office412 = Office::new(d, &ca, district.addr.to_string(), "412");
    let mut clerk = as_person(&district.addr.to_string(), &ca, "412", &[Role::Clerk]).await;
    let mut board = as_person(&province.addr.to_string(), &ca, "40", &[Role::Clerk]).await;
    let province_version = sync_status(&mut board).await.reference_version;
    assert!(province_version >= 1);
    assert_eq!(sync_status(&mut clerk).await.reference_version, 0);

    // Before: the district judges by its built-in quorum (2/3): 28 of 30 is enough.
    draft_with(
        &mut clerk,
        "412",
        vec![district_entry(3, "Lê Hữu Phước", "412")],
    )
    .await;
    record_round(&mut clerk)
        .await
        .expect("the built-in quorum takes 28 of 30");

    // The province's clerk exports its reference data for 412, and `bundle verify` says what
    // the file holds with the authority's certificate alone.
    let out = d.join("carried").join("reference.qhb");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut args: Vec<String> = ["bundle", "export", "--reference", "--for", "412", "--out"]
        .map(String::from)
        .to_vec();
    args.push(out.display().to_string());
    args.extend(office40.node_args());
    let (ok, text) = cli(&args).await.said();
    assert!(ok, "{text}");
    let name = format!("reference-40-to-412-v{province_version}.qhb");
    assert!(text.contains(&name), "{text}");
    let (ok, text) = cli([
        "bundle",
        "verify",
        &out.display().to_string(),
        "--ca",
        &d.join("ca.pem").display().to_string(),
    ])
    .await
    .said();
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!(
            "holds: reference data version {province_version} of 40"
        )),
        "{text}"
    );
    assert!(text.contains("sealed by: quyhoach node 40"), "{text}");
    assert!(text.contains("every signature and hash holds"), "{text}");

    // Reference data is only for a child of the exporting node.
    let mut not_child: Vec<String> = ["bundle", "export", "--reference", "--for", "16681"]
        .map(String::from)
        .to_vec();
    not_child.extend(["--out".into(), d.join("x.qhb").display().to_string()]);
    not_child.extend(office40.node_args());
    let (ok, text) = cli(&not_child).await.said();
    assert!(!ok, "{text}");
    assert!(
        text.contains("unit") && text.contains("16681 is not a child of 40"),
        "{text}"
    );

    // Forgeries, each claiming a version newer than the genuine one.
    let genuine = std::fs::read(&out).unwrap();
    let original = format::read(&genuine).unwrap().bundle;
    let Content::Reference { document, .. } = &original.content else {
        panic!("not a reference bundle: {}", original.content.kind())
    };
    let forged = |mutate: &dyn Fn(&mut Reference)| {
        let mut r = Reference::from_document(document).unwrap();
        r.version = province_version + 1;
        mutate(&mut r);
        let mut b = original.clone();
        b.content = Content::Reference {
            version: r.version,
            document: serde_json::to_string(&r).unwrap(),
        };
        b
    };
    let sibling = ca.issue(&Subject::node("414", &[], 1)).unwrap();
    let sibling =
        Signer::from_pem(&sibling.key_pem, &sibling.cert_pem, &ca.cert_pem, None).unwrap();
    let mut from_sibling = forged(&|_| {});
    from_sibling.from_unit = "414".into();
    // One byte of the document changed: the version it states.
    let mut one_byte = genuine.clone();
    let at = one_byte
        .windows(10)
        .position(|w| w == b"\"version\":")
        .expect("the document states its version")
        + 10;
    one_byte[at] = b'9';
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "sealed by a sibling",
            forged(&|_| {}).write(&sibling).unwrap(),
            "signed by quyhoach node 414 [node@414], not by the node of 40",
        ),
        (
            "from a sibling",
            from_sibling.write(&sibling).unwrap(),
            "the bundle comes from 414, which is not this node's parent",
        ),
        ("altered by one byte", one_byte, "bundle.seal"),
        (
            "rule parameters out of range, sealed by the parent",
            forged(&|r| {
                r.rules.qd50.quorum_num = 1;
                r.rules.qd50.quorum_den = 3;
            })
            .write(&node_key(d, &ca, "40"))
            .unwrap(),
            "reference.rules",
        ),
    ];
    let down = usb.join("down");
    std::fs::create_dir_all(&down).unwrap();
    for (what, bytes, reason) in cases {
        let file = d
            .join("carried")
            .join(format!("{}.qhb", what.replace([' ', ','], "-")));
        std::fs::write(&file, &bytes).unwrap();
        let (ok, text) = office412.import(&file).await.said();
        assert!(!ok, "{what}: accepted: {text}");
        assert!(text.contains(reason), "{what}: {text}");
        assert_eq!(
            sync_status(&mut clerk).await.reference_version,
            0,
            "{what}: the district took it"
        );
        // The same file also lies in down/, where the link meets it beside the genuine one.
        carry(&file, &down);
    }

    // The genuine bundle carried into down/: the link takes it; the forgeries beside it, each
    // claiming a newer version, were refused in the same passes.
    carry(&out, &down);
    eventually(
        20,
        "the district to take the province's reference data",
        || {
            let mut c = clerk.clone();
            async move {
                let v = sync_status(&mut c).await.reference_version;
                (v != 0).then_some(v)
            }
        },
    )
    .await;
    assert_eq!(
        sync_status(&mut clerk).await.reference_version,
        province_version,
        "only the genuine version is held"
    );
    let (ok, text) = cli(["status".to_string()]
        .into_iter()
        .chain(office412.node_args()))
    .await
    .said();
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("reference data v{province_version}")),
        "{text}"
    );

    // After: the district judges by the province's quorum.
    let refused = record_round(&mut clerk).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("quorum of 29/30"),
        "{}",
        refused.message()
    );

    // The same bundle again, by hand: nothing changes.
    let (ok, text) = office412.import(&out).await.said();
    assert!(ok, "{text}");
    assert!(text.contains("nothing changed"), "{text}");
    assert_eq!(
        sync_status(&mut clerk).await.reference_version,
        province_version
    );

    district.stop().await.unwrap();
    province.stop().await.unwrap();
}

/// Writes a 2027 reorganisation of province 40 into `dir`: communes 16690 and 16702 merged
/// into a new 99901, and commune 16681 renamed; answers its TOML file.
fn write_2027(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let units: String = quyhoach::config::UNITS_2025
        .lines()
        .filter(|l| !l.starts_with("16690,") && !l.starts_with("16702,"))
        .map(|l| {
            if l.starts_with("16681,") {
                RENAMED_2027.to_string()
            } else {
                l.to_string()
            }
        })
        .chain(["99901,commune,Phường Vinh Mới,40".to_string()])
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("units-2027.csv"), units).unwrap();
    std::fs::write(
        dir.join("units-2025-to-2027.csv"),
        "old_code,new_code,share\n16690,99901,whole\n16702,99901,whole\n",
    )
    .unwrap();
    let file = dir.join("reorganisation-2027.toml");
    std::fs::write(
        &file,
        "label = \"2027\"\non = \"2027-01-01\"\nunits = \"units-2027.csv\"\n\
         mapping = \"units-2025-to-2027.csv\"\n",
    )
    .unwrap();
    file
}

/// Commune 16681 in the 2027 structure.
const RENAMED_2027: &str = "16681,commune,Phường Thành Vinh Mới,40";

/// The arguments naming the node at `addr` with a person's certificate of `unit`.
fn person_args(d: &Path, ca: &Authority, addr: &str, unit: &str, roles: &[Role]) -> Vec<String> {
    let stem = format!("p-{unit}-{}", roles.len());
    let (cert, key) = crate::bundles::person(d, ca, unit, roles, &stem);
    vec![
        "--node".into(),
        addr.into(),
        "--ca".into(),
        d.join("ca.pem").display().to_string(),
        "--cert".into(),
        cert.display().to_string(),
        "--key".into(),
        key.display().to_string(),
    ]
}

#[tokio::test]
async fn a_later_reorganisation_travels_down_with_the_reference_data_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Authority::create("Tỉnh Nghệ An CA", 1).unwrap();
    let file = write_2027(&d.join("files"));
    // Only the province is given the reorganisation's files.
    let province = start_with(RawConfig {
        units: Some("builtin:2025".into()),
        reorganisation: Some(vec![file]),
        ..tls_config(d, &ca, "40", None)
    })
    .await;
    let commune = start_with(RawConfig {
        units: Some("builtin:2025".into()),
        ..tls_config(d, &ca, "16681", Some(province.url()))
    })
    .await;
    let at_commune = person_args(d, &ca, &commune.addr.to_string(), "16681", &[Role::Clerk]);
    let mut board = as_person(&province.addr.to_string(), &ca, "40", &[Role::Clerk]).await;
    let mut clerk = as_person(&commune.addr.to_string(), &ca, "16681", &[Role::Clerk]).await;
    let v1 = sync_status(&mut board).await.reference_version;
    eventually(20, "the commune to hold the province's version", || {
        let mut c = clerk.clone();
        async move { (sync_status(&mut c).await.reference_version == v1).then_some(()) }
    })
    .await;
    let units = || {
        let args: Vec<String> = ["units".to_string()]
            .into_iter()
            .chain(at_commune.clone())
            .collect();
        async move {
            let (ok, text) = cli(&args).await.said();
            assert!(ok, "{text}");
            text
        }
    };
    let before = units().await;
    assert!(
        before.contains("Phường Thành Vinh") && !before.contains("Phường Thành Vinh Mới"),
        "{before}"
    );

    // The province applies the 2027 reorganisation; the commune, which was never given the
    // files, learnt the structure from the reference data and follows it.
    let mut reorganize: Vec<String> = ["reorganize", "--to", "2027", "--on", "2027-01-01"]
        .map(String::from)
        .to_vec();
    reorganize.extend(person_args(
        d,
        &ca,
        &province.addr.to_string(),
        "40",
        &[Role::Admin, Role::Clerk],
    ));
    let (ok, text) = cli(&reorganize).await.said();
    assert!(ok, "{text}");
    let v2 = sync_status(&mut board).await.reference_version;
    assert!(v2 > v1);
    eventually(20, "the commune to follow the 2027 structure", || {
        let units = units();
        async move { units.await.contains("Phường Thành Vinh Mới").then_some(()) }
    })
    .await;
    assert_eq!(sync_status(&mut clerk).await.reference_version, v2);

    // A later reorganisation the province's own node signed but that loses a unit (a 2028
    // structure without 99901 and no mapping for it) is refused as the file would be at
    // start; the commune keeps its version and its structure.
    // The province's own data, as it would export it, with a 2028 added.
    let exported = d.join("carried").join("ref-16681.qhb");
    std::fs::create_dir_all(exported.parent().unwrap()).unwrap();
    let mut args: Vec<String> = ["bundle", "export", "--reference", "--for", "16681", "--out"]
        .map(String::from)
        .to_vec();
    args.push(exported.display().to_string());
    args.extend(Office::new(d, &ca, province.addr.to_string(), "40").node_args());
    let (ok, text) = cli(&args).await.said();
    assert!(ok, "{text}");
    let genuine = format::read(&std::fs::read(&exported).unwrap())
        .unwrap()
        .bundle;
    let Content::Reference { document, .. } = &genuine.content else {
        panic!("not a reference bundle: {}", genuine.content.kind())
    };
    let held = Reference::from_document(document).unwrap();
    assert_eq!(held.version, v2);
    assert_eq!(
        held.reorganisations.len(),
        1,
        "the 2027 reorganisation travels"
    );
    let mut bad = held.clone();
    bad.version = v2 + 1;
    let mut r2028 = bad.reorganisations[0].clone();
    r2028.label = "2028".into();
    r2028.on = chrono::NaiveDate::from_ymd_opt(2028, 1, 1).unwrap();
    r2028.units = r2028
        .units
        .lines()
        .filter(|l| !l.starts_with("99901,"))
        .map(|l| format!("{l}\n"))
        .collect();
    r2028.mapping = "old_code,new_code,share\n".into();
    bad.reorganisations.push(r2028);
    let mut forged = genuine.clone();
    forged.content = Content::Reference {
        version: bad.version,
        document: serde_json::to_string(&bad).unwrap(),
    };
    let forged_file = d.join("carried").join("bad-2028.qhb");
    std::fs::write(&forged_file, forged.write(&node_key(d, &ca, "40")).unwrap()).unwrap();
    let (ok, text) = Office::new(d, &ca, commune.addr.to_string(), "16681")
        .import(&forged_file)
        .await
        .said();
    assert!(!ok, "accepted: {text}");
    assert!(
        text.contains("reference.reorganisations[1]") && text.contains("99901"),
        "{text}"
    );
    assert_eq!(sync_status(&mut clerk).await.reference_version, v2);
    assert!(units().await.contains("Phường Thành Vinh Mới"));

    commune.stop().await.unwrap();
    province.stop().await.unwrap();
}
