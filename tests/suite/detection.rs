//! Detect through gRPC on real photos.

use crate::common;

use common::{image, pb, TestServer};

async fn count_faces(server: &TestServer, photo: &str) -> usize {
    let reply = server
        .client()
        .detect(pb::DetectRequest {
            image: image(photo),
            max_faces: 0,
        })
        .await
        .unwrap_or_else(|s| panic!("{photo}: {s:?}"))
        .into_inner();
    reply.faces.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn scene_photos_give_their_known_face_counts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    assert_eq!(count_faces(&server, "scenes/insightface_t1.jpg").await, 6);
    assert_eq!(
        count_faces(&server, "scenes/rustface_test_solvay1927.png").await,
        29
    );
    assert_eq!(
        count_faces(&server, "scenes/skimage_astronaut.png").await,
        1
    );
    assert_eq!(count_faces(&server, "scenes/facerec_obama.jpg").await, 1);
}
