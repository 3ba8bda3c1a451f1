//! Person records through gRPC: create, read, list, update, delete.

use crate::common;

use common::{create_person as create, pb, reason, TestServer};
use tonic::Code;

fn person(name: &str) -> pb::Person {
    pb::Person {
        name: name.into(),
        external_id: format!("ext-{name}"),
        birthdate: "1975-06-04".into(),
        country: "US".into(),
        city: "Los Angeles".into(),
        title: "Actor".into(),
        org: "Studio".into(),
        attributes: [("badge".to_string(), "42".to_string())].into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_person_reads_back_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    let created = create(&server, person("Ada")).await;
    let read = server
        .client()
        .get_person(pb::GetPersonRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    let read = read.person.unwrap();
    assert_eq!(read, created);
    assert!(!read.id.is_empty());
    assert_eq!(
        (
            read.name.as_str(),
            read.external_id.as_str(),
            read.birthdate.as_str()
        ),
        ("Ada", "ext-Ada", "1975-06-04")
    );
    assert_eq!(
        (
            read.country.as_str(),
            read.city.as_str(),
            read.title.as_str(),
            read.org.as_str()
        ),
        ("US", "Los Angeles", "Actor", "Studio")
    );
    assert_eq!(read.attributes.get("badge").map(String::as_str), Some("42"));
    assert!(read.create_time.is_some() && read.update_time == read.create_time);
    assert_eq!(read.face_count, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_pages_through_every_person_once_in_creation_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            create(
                &server,
                pb::Person {
                    name: format!("P{i}"),
                    ..Default::default()
                },
            )
            .await
            .id,
        );
    }

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = server
            .client()
            .list_persons(pb::ListPersonsRequest {
                collection: String::new(),
                page_size: 3,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.persons.len() <= 3);
        seen.extend(page.persons.into_iter().map(|p| p.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }

    assert_eq!(seen, created);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_changes_only_the_masked_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let created = create(&server, person("Ada")).await;

    let updated = server
        .client()
        .update_person(pb::UpdatePersonRequest {
            person: Some(pb::Person {
                id: created.id.clone(),
                name: "Ada L.".into(),
                city: "London".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into(), "attributes".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();

    assert_eq!(updated.name, "Ada L.");
    assert_eq!(updated.city, "Los Angeles", "city was not in the mask");
    assert!(
        updated.attributes.is_empty(),
        "attributes were in the mask and cleared"
    );
    assert_eq!(updated.create_time, created.create_time);
    let read = server
        .client()
        .get_person(pb::GetPersonRequest { id: created.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.person.unwrap(), updated);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_without_a_mask_changes_the_fields_given() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let created = create(&server, person("Ada")).await;

    let updated = server
        .client()
        .update_person(pb::UpdatePersonRequest {
            person: Some(pb::Person {
                id: created.id.clone(),
                title: "Engineer".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();

    assert_eq!(updated.title, "Engineer");
    assert_eq!(updated.name, "Ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_updates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let created = create(&server, person("Ada")).await;
    create(&server, person("Bob")).await;
    let update = |p: pb::Person, paths: &[&str]| pb::UpdatePersonRequest {
        person: Some(p),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|s| s.to_string()).collect(),
        }),
    };
    let mut client = server.client();

    let output_only = client
        .update_person(update(
            pb::Person {
                id: created.id.clone(),
                ..Default::default()
            },
            &["create_time"],
        ))
        .await
        .unwrap_err();
    let bad_date = client
        .update_person(update(
            pb::Person {
                id: created.id.clone(),
                birthdate: "1975-02-30".into(),
                ..Default::default()
            },
            &["birthdate"],
        ))
        .await
        .unwrap_err();
    let taken = client
        .update_person(update(
            pb::Person {
                id: created.id.clone(),
                external_id: "ext-Bob".into(),
                ..Default::default()
            },
            &["external_id"],
        ))
        .await
        .unwrap_err();
    let missing = client
        .update_person(update(
            pb::Person {
                id: uuid::Uuid::now_v7().to_string(),
                name: "X".into(),
                ..Default::default()
            },
            &["name"],
        ))
        .await
        .unwrap_err();

    assert_eq!(output_only.code(), Code::InvalidArgument);
    assert_eq!(
        (bad_date.code(), reason(&bad_date).as_str()),
        (Code::InvalidArgument, "INVALID_FIELD")
    );
    assert_eq!(taken.code(), Code::AlreadyExists);
    assert_eq!(missing.code(), Code::NotFound);
    let read = client
        .get_person(pb::GetPersonRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert_eq!(read, created, "failed updates changed nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_person_is_gone_and_a_second_delete_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let created = create(&server, person("Ada")).await;

    let deleted = server
        .client()
        .delete_person(pb::DeletePersonRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap();
    let again = server
        .client()
        .delete_person(pb::DeletePersonRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap_err();
    let read = server
        .client()
        .get_person(pb::GetPersonRequest { id: created.id })
        .await
        .unwrap_err();

    assert_eq!(deleted.into_inner().deleted_faces, 0);
    assert_eq!(again.code(), Code::NotFound);
    assert_eq!(read.code(), Code::NotFound);
    let reused = create(&server, person("Ada")).await;
    assert_eq!(
        reused.external_id, "ext-Ada",
        "the external id is free again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_outside_the_mask_are_neither_applied_nor_validated() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let created = create(&server, person("Ada")).await;

    let updated = server
        .client()
        .update_person(pb::UpdatePersonRequest {
            person: Some(pb::Person {
                id: created.id.clone(),
                name: "Ada K.".into(),
                birthdate: "not a date".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();

    assert_eq!(
        (updated.name.as_str(), updated.birthdate.as_str()),
        ("Ada K.", "1975-06-04")
    );
}
