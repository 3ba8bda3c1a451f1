//! Collections through real gRPC: each is searched on its own, pinned to the
//! server's model, and deleted with its persons only when asked.

use crate::common;

use common::*;
use tonic::Code;

async fn create_collection(
    server: &TestServer,
    name: &str,
    threshold: Option<f32>,
) -> Result<pb::Collection, tonic::Status> {
    server
        .client()
        .create_collection(pb::CreateCollectionRequest {
            collection: Some(pb::Collection {
                name: name.into(),
                threshold,
                ..Default::default()
            }),
        })
        .await
        .map(|r| r.into_inner().collection.unwrap())
}

fn in_collection(name: &str, collection: &str) -> pb::Person {
    pb::Person {
        collection: collection.into(),
        ..named(name)
    }
}

async fn register_in(
    server: &TestServer,
    person: pb::Person,
    photos: &[&str],
) -> pb::RegisterFacesResponse {
    server
        .client()
        .register_faces(new_person_request(
            person,
            photos.iter().map(|p| photo(p)).collect(),
            pb::FaceSelection::Single,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn recognize_in(
    server: &TestServer,
    collection: &str,
    photo: &str,
) -> Result<pb::RecognizeResponse, tonic::Status> {
    server
        .client()
        .recognize(pb::RecognizeRequest {
            image: image(photo),
            top_k: 5,
            collection: collection.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

fn names(reply: &pb::RecognizeResponse) -> Vec<String> {
    reply.faces[0]
        .matches
        .iter()
        .map(|m| m.person.as_ref().unwrap().name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_collections_with_the_same_photos_do_not_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let staff = create_collection(&server, "staff", None).await.unwrap();
    assert_eq!(staff.model.as_ref().unwrap().dimension, 128);
    assert_eq!(staff.model.as_ref().unwrap().metric, "cosine");

    let in_default = register_in(&server, named("Angelina (default)"), &ANGELINA_TWO_PHOTOS).await;
    assert_eq!(in_default.person.unwrap().collection, "default");
    let in_staff = register_in(
        &server,
        in_collection("Angelina (staff)", "staff"),
        &ANGELINA_TWO_PHOTOS,
    )
    .await;
    assert_eq!(in_staff.person.as_ref().unwrap().collection, "staff");
    register_in(
        &server,
        in_collection("Jack", "staff"),
        &["faces/deepface_jack/1.jpg"],
    )
    .await;

    for _ in 0..2 {
        let reply = recognize_in(&server, "", "faces/deepface_angelina/3.jpg")
            .await
            .unwrap();
        assert_eq!(names(&reply), vec!["Angelina (default)"]);
        let reply = recognize_in(&server, "staff", "faces/deepface_angelina/3.jpg")
            .await
            .unwrap();
        assert_eq!(names(&reply), vec!["Angelina (staff)"]);
        let reply = recognize_in(&server, "default", "faces/deepface_jack/2.jpg")
            .await
            .unwrap();
        assert!(names(&reply).is_empty(), "{reply:?}");
        let reply = recognize_in(&server, "staff", "faces/deepface_jack/2.jpg")
            .await
            .unwrap();
        assert_eq!(names(&reply), vec!["Jack"]);
    }

    // Listing is per collection; counts are per collection.
    let listed = server
        .client()
        .list_persons(pb::ListPersonsRequest {
            collection: "staff".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut listed: Vec<String> = listed.persons.into_iter().map(|p| p.name).collect();
    listed.sort();
    assert_eq!(listed, vec!["Angelina (staff)", "Jack"]);
    let all = server
        .client()
        .list_collections(pb::ListCollectionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .collections;
    let counts: Vec<(String, i32)> = all.into_iter().map(|c| (c.name, c.person_count)).collect();
    assert_eq!(counts, vec![("default".into(), 1), ("staff".into(), 2)]);

    // Verify against a person of another collection finds no such person
    // there, and says so.
    let status = server
        .client()
        .verify(pb::VerifyRequest {
            image: image("faces/deepface_angelina/3.jpg"),
            reference: Some(pb::verify_request::Reference::PersonId(
                in_staff.person.as_ref().unwrap().id.clone(),
            )),
            threshold: None,
            collection: "default".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(reason(&status), "PERSON_NOT_FOUND");
    assert!(
        status
            .message()
            .ends_with("is not in collection \"default\""),
        "{status:?}"
    );

    // A registration names the person, not the collection: the terminal
    // client checks that the person is in the collection it was given
    // instead of adding the face to a person of another one.
    let staff_id = in_staff.person.unwrap().id;
    let photo = data_path("faces/deepface_angelina/3.jpg");
    let photo = photo.to_str().unwrap();
    let url = format!("http://{}", server.address);
    let register_with = |collection: &'static str| {
        let args = [
            "--server",
            &url,
            "--collection",
            collection,
            "register",
            "--person",
            &staff_id,
            photo,
        ];
        async move { run_facebank(&args).await }
    };
    let refused = register_with("default").await;
    assert!(!refused.status.success(), "{refused:?}");
    let expected = format!("person {staff_id} is in collection \"staff\", not \"default\"");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&expected),
        "{refused:?}"
    );
    assert_eq!(faces_of(&server, &staff_id).await.len(), 2);
    let added = register_with("staff").await;
    assert!(added.status.success(), "{added:?}");
    assert_eq!(faces_of(&server, &staff_id).await.len(), 3);

    // After a restart the collections and their separate indexes are back.
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let reply = recognize_in(&server, "staff", "faces/deepface_angelina/3.jpg")
        .await
        .unwrap();
    assert_eq!(names(&reply), vec!["Angelina (staff)"]);
    let reply = recognize_in(&server, "", "faces/deepface_angelina/3.jpg")
        .await
        .unwrap();
    assert_eq!(names(&reply), vec!["Angelina (default)"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn collections_are_created_checked_and_deleted_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client();

    let strict = create_collection(&server, "strict", Some(0.99))
        .await
        .unwrap();
    assert_eq!(strict.threshold, Some(0.99));
    let status = create_collection(&server, "strict", None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    for bad in ["", "Strict", "9lives", "a-b", &"x".repeat(65)] {
        let status = create_collection(&server, bad, None).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}: {status:?}");
    }
    let status = create_collection(&server, "loose", Some(1.5))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let status = client
        .create_collection(pb::CreateCollectionRequest {
            collection: Some(pb::Collection {
                name: "arcface".into(),
                model: Some(pb::RecognitionModel {
                    name: "arcface_r100".into(),
                    dimension: 512,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "MODEL_MISMATCH");
    let fetched = client
        .get_collection(pb::GetCollectionRequest {
            name: "strict".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .collection
        .unwrap();
    assert_eq!(fetched.name, "strict");

    // The collection's threshold applies when a call gives none.
    let angelina = register_in(
        &server,
        in_collection("Angelina", "strict"),
        &ANGELINA_TWO_PHOTOS,
    )
    .await
    .person
    .unwrap();
    let reply = recognize_in(&server, "strict", "faces/deepface_angelina/3.jpg")
        .await
        .unwrap();
    assert!((reply.threshold - 0.99).abs() < 1e-6, "{reply:?}");

    // Unknown collections are NOT_FOUND wherever they are named.
    let status = recognize_in(&server, "nowhere", "faces/deepface_angelina/3.jpg")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(reason(&status), "COLLECTION_NOT_FOUND");
    let status = client
        .create_person(pb::CreatePersonRequest {
            person: Some(in_collection("Nobody", "nowhere")),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // External ids are unique within a collection, not across them.
    let with_id = |collection: &str| pb::Person {
        external_id: "emp-7".into(),
        ..in_collection("Seven", collection)
    };
    client
        .create_person(pb::CreatePersonRequest {
            person: Some(with_id("strict")),
        })
        .await
        .unwrap();
    client
        .create_person(pb::CreatePersonRequest {
            person: Some(with_id("default")),
        })
        .await
        .unwrap();
    let status = client
        .create_person(pb::CreatePersonRequest {
            person: Some(with_id("strict")),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");

    // A person never moves between collections.
    let status = client
        .update_person(pb::UpdatePersonRequest {
            person: Some(pb::Person {
                id: angelina.id.clone(),
                ..in_collection("Angelina", "default")
            }),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // Deleting: never the default one; a collection with persons only when asked.
    let delete = |name: &str, delete_persons| pb::DeleteCollectionRequest {
        name: name.into(),
        delete_persons,
    };
    let status = client
        .delete_collection(delete("default", true))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let status = client
        .delete_collection(delete("strict", false))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status
            .message()
            .contains("holds 2 persons; set delete_persons to delete them"),
        "{status:?}"
    );
    assert_eq!(reason(&status), "COLLECTION_NOT_EMPTY");
    let deleted = client
        .delete_collection(delete("strict", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted_persons, 2);
    let status = client
        .get_person(pb::GetPersonRequest {
            id: angelina.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = recognize_in(&server, "strict", "faces/deepface_angelina/3.jpg")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .delete_collection(delete("strict", true))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // The name can be used again, and the new collection starts empty.
    create_collection(&server, "strict", None).await.unwrap();
    let reply = recognize_in(&server, "strict", "faces/deepface_angelina/3.jpg")
        .await
        .unwrap();
    assert!(names(&reply).is_empty(), "{reply:?}");
    let remaining: Vec<String> = persons(&server).await.into_iter().map(|p| p.name).collect();
    assert_eq!(remaining, vec!["Seven"]);
    server.stop().await;
}
