//! Verify over every labelled pair of `tests/data/faces/pairs.tsv`.

use crate::common;

use futures::StreamExt;

use common::{image, pb, register, TestServer, ANGELINA_TWO_PHOTOS};

/// Measured with the default threshold (0.92) when this test was written:
/// 524 of 525 pairs right (one impostor pair accepted). The guard leaves room
/// for one more mistake from numeric noise, not for a regression.
const MIN_ACCURACY: f64 = 0.996;

#[tokio::test(flavor = "multi_thread")]
async fn verify_over_the_labelled_pairs_is_at_least_as_accurate_as_measured() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let pairs = std::fs::read_to_string(common::data_path("faces/pairs.tsv")).unwrap();
    let pairs: Vec<(String, String, bool)> = pairs
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (
                format!("faces/{}", f[0]),
                format!("faces/{}", f[1]),
                f[2] == "1",
            )
        })
        .collect();
    assert_eq!(pairs.len(), 525);

    let calls = pairs.iter().map(|(a, b, same)| {
        let mut client = server.client();
        async move {
            let reply = client
                .verify(pb::VerifyRequest {
                    collection: String::new(),
                    image: image(a),
                    reference: Some(pb::verify_request::Reference::OtherImage(image(b).unwrap())),
                    threshold: None,
                })
                .await
                .unwrap_or_else(|s| panic!("{a} {b}: {s:?}"))
                .into_inner();
            (reply.same_person == *same, *same, reply)
        }
    });
    let results = futures::stream::iter(calls)
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;

    let right = results.iter().filter(|(ok, _, _)| *ok).count();
    let false_accepts = results.iter().filter(|(ok, same, _)| !ok && !same).count();
    let false_rejects = results.iter().filter(|(ok, same, _)| !ok && *same).count();
    let accuracy = right as f64 / results.len() as f64;
    println!(
        "Verify over pairs.tsv: {right}/{} right ({:.2}%), {false_accepts} false accepts, {false_rejects} false rejects",
        results.len(),
        accuracy * 100.0
    );
    assert!(results
        .iter()
        .all(|(_, _, r)| (r.threshold - facebank::config::DEFAULT_THRESHOLD).abs() < 1e-6));
    assert!(accuracy >= MIN_ACCURACY, "accuracy fell to {accuracy}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_against_a_registered_person_uses_their_most_similar_face() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let angelina = register(&server, "Angelina", &ANGELINA_TWO_PHOTOS).await;
    let person_id = angelina.person.unwrap().id;
    let verify = |photo: &'static str, threshold: Option<f32>| {
        let mut client = server.client();
        let person_id = person_id.clone();
        async move {
            client
                .verify(pb::VerifyRequest {
                    collection: String::new(),
                    image: image(photo),
                    reference: Some(pb::verify_request::Reference::PersonId(person_id)),
                    threshold,
                })
                .await
                .unwrap()
                .into_inner()
        }
    };

    let same = verify("faces/deepface_angelina/3.jpg", None).await;
    let other = verify("faces/deepface_jack/1.jpg", None).await;
    let strict = verify("faces/deepface_angelina/3.jpg", Some(0.999)).await;

    assert!(same.same_person, "{same:?}");
    assert!(angelina.faces.iter().any(|f| f.id == same.matched_face_id));
    assert!(
        !other.same_person && other.similarity < same.similarity,
        "{other:?}"
    );
    assert!(!strict.same_person);
    assert_eq!(strict.threshold, 0.999);
}
