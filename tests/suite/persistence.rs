//! Everything facebank stores survives a restart on the same data directory.

use crate::common;

use common::{pb, recognize, register, TestServer, ANGELINA_TWO_PHOTOS};

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_on_the_same_data_directory_gives_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let angelina = register(&server, "Angelina", &ANGELINA_TWO_PHOTOS).await;
    register(&server, "Jack", &["faces/deepface_jack/1.jpg"]).await;
    let before = recognize(&server, "faces/deepface_angelina/3.jpg").await;
    let group_before = recognize(&server, "scenes/insightface_t1.jpg").await;
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let after = recognize(&server, "faces/deepface_angelina/3.jpg").await;
    let group_after = recognize(&server, "scenes/insightface_t1.jpg").await;

    assert_eq!(before, after);
    assert_eq!(group_before, group_after);
    assert_eq!(
        after.faces[0].matches[0].person.as_ref().unwrap().id,
        angelina.person.as_ref().unwrap().id
    );
    let person = server
        .client()
        .get_person(pb::GetPersonRequest {
            id: angelina.person.unwrap().id,
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert_eq!(person.face_count, 2);
}
