//! Registration and recognition through gRPC on real photos.

use crate::common;

use common::{best_match, faces_of, pb, recognize, register, TestServer};

const ANGELINA: [&str; 3] = [
    "faces/deepface_angelina/1.jpg",
    "faces/deepface_angelina/2.jpg",
    "faces/deepface_angelina/3.jpg",
];
const JACK: &str = "faces/deepface_jack/1.jpg";
const JENNIFER: &str = "faces/deepface_jennifer/1.jpg";
const NEVER_REGISTERED: &str = "faces/facerec_obama/1.jpg";

async fn server_with_three_people(dir: &std::path::Path) -> (TestServer, pb::Person) {
    let server = TestServer::start(dir).await;
    let angelina = register(&server, "Angelina", &ANGELINA[..2]).await;
    register(&server, "Jack", &[JACK]).await;
    register(&server, "Jennifer", &[JENNIFER]).await;
    (server, angelina.person.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_third_photo_of_a_registered_person_is_recognised_as_them() {
    let dir = tempfile::tempdir().unwrap();
    let (server, angelina) = server_with_three_people(dir.path()).await;

    let reply = recognize(&server, ANGELINA[2]).await;

    assert_eq!(reply.faces.len(), 1);
    let best = &reply.faces[0].matches[0];
    assert_eq!(best.person.as_ref().unwrap().id, angelina.id);
    assert!(best.similarity >= reply.threshold, "{best:?}");
    assert!(
        reply.faces[0]
            .matches
            .iter()
            .all(|m| m.person.as_ref().unwrap().id == angelina.id),
        "only Angelina reaches the threshold: {:?}",
        reply.faces[0].matches
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_never_registered_gets_no_match() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = server_with_three_people(dir.path()).await;

    let reply = recognize(&server, NEVER_REGISTERED).await;

    assert_eq!(reply.faces.len(), 1);
    assert!(
        reply.faces[0].matches.is_empty(),
        "{:?}",
        reply.faces[0].matches
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lower_minimum_similarity_admits_weaker_matches() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = server_with_three_people(dir.path()).await;

    let reply = server
        .client()
        .recognize(pb::RecognizeRequest {
            collection: String::new(),
            image: common::image(NEVER_REGISTERED),
            max_faces: 0,
            top_k: 3,
            min_similarity: Some(-1.0),
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reply.threshold, -1.0);
    let matches = &reply.faces[0].matches;
    assert_eq!(matches.len(), 3, "one match per registered person");
    assert!(matches
        .windows(2)
        .all(|w| w[0].similarity >= w[1].similarity));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_face_of_a_group_photo_is_reported_largest_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    let reply = recognize(&server, "scenes/insightface_t1.jpg").await;

    assert_eq!(reply.faces.len(), 6);
    let areas: Vec<f32> = reply
        .faces
        .iter()
        .map(|f| {
            let b = f.detection.as_ref().unwrap().r#box.unwrap();
            b.width * b.height
        })
        .collect();
    assert!(areas.windows(2).all(|w| w[0] >= w[1]), "{areas:?}");
    assert!(reply
        .faces
        .iter()
        .all(|f| f.detection.as_ref().unwrap().landmarks.len() == 5));

    let limited = server
        .client()
        .recognize(pb::RecognizeRequest {
            image: common::image("scenes/insightface_t1.jpg"),
            max_faces: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(limited.faces.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_person_is_no_longer_matched() {
    let dir = tempfile::tempdir().unwrap();
    let (server, angelina) = server_with_three_people(dir.path()).await;

    let deleted = server
        .client()
        .delete_person(pb::DeletePersonRequest {
            id: angelina.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(deleted.deleted_faces, 2);
    assert_eq!(best_match(&recognize(&server, ANGELINA[2]).await), None);
    let listed = server
        .client()
        .list_faces(pb::ListFacesRequest {
            person_id: angelina.id,
        })
        .await
        .unwrap_err();
    assert_eq!(listed.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_face_is_no_longer_matched_but_the_others_are() {
    let dir = tempfile::tempdir().unwrap();
    let (server, angelina) = server_with_three_people(dir.path()).await;
    let faces = faces_of(&server, &angelina.id).await;
    assert_eq!(faces.len(), 2);

    server
        .client()
        .delete_face(pb::DeleteFaceRequest {
            id: faces[0].id.clone(),
        })
        .await
        .unwrap();

    let reply = recognize(&server, ANGELINA[2]).await;
    let best = &reply.faces[0].matches[0];
    assert_eq!(best.face_id, faces[1].id);
    let again = server
        .client()
        .delete_face(pb::DeleteFaceRequest {
            id: faces[0].id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_largest_face_of_a_group_photo_can_be_registered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    let reply = server
        .client()
        .register_faces(common::new_person_request(
            common::named("Largest"),
            vec![common::photo("scenes/insightface_t1.jpg")],
            pb::FaceSelection::Largest,
        ))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reply.faces.len(), 1);
    assert_eq!(reply.person.unwrap().face_count, 1);
    let group = recognize(&server, "scenes/insightface_t1.jpg").await;
    let matched: Vec<_> = group
        .faces
        .iter()
        .filter(|f| !f.matches.is_empty())
        .collect();
    assert_eq!(matched.len(), 1, "only the registered face matches");
    assert_eq!(matched[0].matches[0].face_id, reply.faces[0].id);
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_concurrent_recognitions_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, angelina) = server_with_three_people(dir.path()).await;

    let calls = (0..16).map(|i| {
        let mut client = server.client();
        let photo = if i % 2 == 0 {
            ANGELINA[2]
        } else {
            NEVER_REGISTERED
        };
        async move {
            let reply = client
                .recognize(pb::RecognizeRequest {
                    image: common::image(photo),
                    top_k: 1,
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok::<_, tonic::Status>((photo, reply))
        }
    });
    let replies = futures::future::join_all(calls).await;

    for reply in replies {
        let (photo, reply) = reply.expect("every call succeeds");
        let best = reply.faces[0]
            .matches
            .first()
            .map(|m| m.person.as_ref().unwrap().id.clone());
        if photo == NEVER_REGISTERED {
            assert_eq!(best, None);
        } else {
            assert_eq!(best, Some(angelina.id.clone()));
        }
    }
}

/// Seventeen slightly different crops of one photo.
fn crops_of(file: &str) -> Vec<Vec<u8>> {
    let upright = image::load_from_memory(&common::photo(file)).unwrap();
    (0..17u32)
        .map(|k| {
            let (w, h) = (upright.width(), upright.height());
            let view = upright.crop_imm(k * 4, k * 4, w - k * 8, h - k * 8);
            let mut png = std::io::Cursor::new(Vec::new());
            view.write_to(&mut png, image::ImageFormat::Png).unwrap();
            png.into_inner()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_with_many_faces_does_not_crowd_others_out_of_the_top_k() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let crowd = server
        .client()
        .register_faces(common::new_person_request(
            common::named("Crowd"),
            crops_of("faces/deepface_angelina/1.jpg"),
            pb::FaceSelection::Single,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(crowd.faces.len(), 17);
    register(&server, "Jack", &[JACK]).await;

    let reply = server
        .client()
        .recognize(pb::RecognizeRequest {
            collection: String::new(),
            image: common::image(ANGELINA[2]),
            max_faces: 0,
            top_k: 2,
            min_similarity: Some(-1.0),
        })
        .await
        .unwrap()
        .into_inner();

    let names: Vec<&str> = reply.faces[0]
        .matches
        .iter()
        .map(|m| m.person.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["Crowd", "Jack"]);
}

/// The ids of the matches of the largest face, best first.
fn match_ids(reply: &pb::RecognizeResponse) -> Vec<String> {
    reply.faces[0]
        .matches
        .iter()
        .map(|m| m.person.as_ref().unwrap().id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn equally_similar_matches_come_in_person_id_order_before_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    // One photo registered for three people at once, so the index holds
    // three identical vectors in whatever order the registrations finished.
    let registrations = ["First", "Second", "Third"].map(|name| register(&server, name, &[JACK]));
    futures::future::join_all(registrations).await;

    let before = match_ids(&recognize(&server, JACK).await);
    let mut sorted = before.clone();
    sorted.sort();
    assert_eq!(before.len(), 3);
    assert_eq!(before, sorted, "ties are ordered by person id");

    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    assert_eq!(match_ids(&recognize(&server, JACK).await), before);
    server.stop().await;
}
