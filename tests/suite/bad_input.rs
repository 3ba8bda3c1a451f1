//! Bad input gets a clear error with the right gRPC code and reason, and
//! leaves nothing behind.

use crate::common;

use std::io::Cursor;

use common::{image, image_bytes, named, new_person_request, pb, photo, reason, TestServer};
use facebank::config::{Config, ImageLimits};
use image::{ImageFormat, RgbImage};
use tonic::Code;

const ONE_FACE: &str = "faces/deepface_angelina/1.jpg";
const SIX_FACES: &str = "scenes/insightface_t1.jpg";
const SMALL_FACE: &str = "scenes/opencvdoc_messi5.jpg";

async fn server_with_limits(dir: &std::path::Path, images: ImageLimits) -> TestServer {
    TestServer::start_with(Config {
        data_dir: dir.into(),
        images,
        ..Config::default()
    })
    .await
}

async fn detect_error(server: &TestServer, bytes: Vec<u8>) -> tonic::Status {
    server
        .client()
        .detect(pb::DetectRequest {
            image: image_bytes(bytes),
            max_faces: 0,
        })
        .await
        .expect_err("the image is refused")
}

fn encoded(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

/// A picture with no face in it: a smooth colour gradient.
fn faceless() -> Vec<u8> {
    let gradient = RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 2) as u8, 128])
    });
    encoded(&gradient, ImageFormat::Png)
}

/// A BMP header announcing a 60000 x 60000 image, with almost no pixel data.
fn bmp_claiming_billions_of_pixels() -> Vec<u8> {
    let side: u32 = 60_000;
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&(54u32 + 16).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&side.to_le_bytes());
    bmp.extend_from_slice(&side.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    bmp.extend_from_slice(&[0x7f; 16]);
    bmp
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_images_are_invalid_arguments_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let jpeg = photo(ONE_FACE);
    let png = photo("scenes/skimage_astronaut.png");
    let webp = photo("faces/deepface_scarlett/3.webp");
    let mut corrupt = jpeg[..4].to_vec();
    corrupt.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "EMPTY_IMAGE"),
        (
            "truncated",
            jpeg[..jpeg.len() / 3].to_vec(),
            "CORRUPT_IMAGE",
        ),
        (
            "truncated png",
            png[..png.len() / 2].to_vec(),
            "CORRUPT_IMAGE",
        ),
        (
            "truncated webp",
            webp[..webp.len() / 2].to_vec(),
            "CORRUPT_IMAGE",
        ),
        ("corrupt", corrupt, "CORRUPT_IMAGE"),
        (
            "text",
            b"this is not an image at all".to_vec(),
            "UNSUPPORTED_IMAGE",
        ),
        (
            "gif",
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
            "UNSUPPORTED_IMAGE",
        ),
        ("huge", bmp_claiming_billions_of_pixels(), "IMAGE_TOO_LARGE"),
    ];
    for (name, bytes, expected) in cases {
        let status = detect_error(&server, bytes).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
        assert_eq!(reason(&status), expected, "{name}: {status:?}");
        assert!(!status.message().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_over_the_byte_limit_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ImageLimits {
        max_bytes: 100_000,
        ..ImageLimits::default()
    };
    let server = server_with_limits(dir.path(), limits).await;

    let status = detect_error(&server, photo(SIX_FACES).repeat(2)).await;

    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason(&status), "IMAGE_TOO_LARGE");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_over_the_pixel_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ImageLimits {
        max_pixels: 100_000,
        ..ImageLimits::default()
    };
    let server = server_with_limits(dir.path(), limits).await;

    let status = detect_error(&server, photo(ONE_FACE)).await;

    assert_eq!(reason(&status), "IMAGE_TOO_LARGE");
    assert!(status.message().contains("pixels"), "{}", status.message());
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_refuses_faceless_crowded_and_tiny_faces_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    for (bytes, expected) in [
        (faceless(), "NO_FACE"),
        (photo(SIX_FACES), "MULTIPLE_FACES"),
        (photo(SMALL_FACE), "FACE_TOO_SMALL"),
    ] {
        let status = server
            .client()
            .register_faces(new_person_request(
                pb::Person {
                    external_id: "nobody".into(),
                    ..named("Nobody")
                },
                vec![bytes],
                pb::FaceSelection::Single,
            ))
            .await
            .expect_err("nothing to register");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(reason(&status), expected, "{status:?}");
    }

    let persons = common::persons(&server).await;
    assert!(persons.is_empty(), "no person was left behind: {persons:?}");
    let stranger = common::recognize(&server, ONE_FACE).await;
    assert!(stranger.faces[0].matches.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mixed_registration_adds_the_good_faces_and_explains_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    let reply = server
        .client()
        .register_faces(new_person_request(
            named("Angelina"),
            vec![photo(ONE_FACE), faceless(), photo(SIX_FACES)],
            pb::FaceSelection::Single,
        ))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reply.faces.len(), 1);
    let refused: Vec<(i32, &str)> = reply
        .rejected
        .iter()
        .map(|r| (r.image_index, r.reason.as_str()))
        .collect();
    assert_eq!(refused, [(1, "NO_FACE"), (2, "MULTIPLE_FACES")]);
    assert_eq!(reply.person.unwrap().face_count, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn faceless_photos_give_no_face_in_recognize_and_an_error_in_verify() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    let recognised = common::recognize_bytes(&server, faceless()).await;
    let verified = server
        .client()
        .verify(pb::VerifyRequest {
            collection: String::new(),
            image: image_bytes(faceless()),
            reference: Some(pb::verify_request::Reference::OtherImage(
                image(ONE_FACE).unwrap(),
            )),
            threshold: None,
        })
        .await
        .unwrap_err();

    assert!(recognised.faces.is_empty());
    assert_eq!(verified.code(), Code::InvalidArgument);
    assert_eq!(reason(&verified), "NO_FACE");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_malformed_ids_are_not_found_and_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let unknown = uuid::Uuid::now_v7().to_string();

    let missing = server
        .client()
        .get_person(pb::GetPersonRequest {
            id: unknown.clone(),
        })
        .await
        .unwrap_err();
    let malformed = server
        .client()
        .get_person(pb::GetPersonRequest {
            id: "42; DROP TABLE".into(),
        })
        .await
        .unwrap_err();
    let register = server
        .client()
        .register_faces(common::existing_person_request(&unknown, &[ONE_FACE]))
        .await
        .unwrap_err();
    let face = server
        .client()
        .delete_face(pb::DeleteFaceRequest {
            id: unknown.clone(),
        })
        .await
        .unwrap_err();
    let verify = server
        .client()
        .verify(pb::VerifyRequest {
            collection: String::new(),
            image: image(ONE_FACE),
            reference: Some(pb::verify_request::Reference::PersonId(unknown)),
            threshold: None,
        })
        .await
        .unwrap_err();

    assert_eq!(
        (missing.code(), reason(&missing).as_str()),
        (Code::NotFound, "PERSON_NOT_FOUND")
    );
    assert_eq!(
        (malformed.code(), reason(&malformed).as_str()),
        (Code::InvalidArgument, "INVALID_FIELD")
    );
    assert_eq!(register.code(), Code::NotFound);
    assert_eq!(
        (face.code(), reason(&face).as_str()),
        (Code::NotFound, "FACE_NOT_FOUND")
    );
    assert_eq!(verify.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_and_out_of_range_request_fields_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client();

    let calls = [
        client
            .recognize(pb::RecognizeRequest::default())
            .await
            .unwrap_err(),
        client
            .recognize(pb::RecognizeRequest {
                image: image(ONE_FACE),
                top_k: -1,
                ..Default::default()
            })
            .await
            .unwrap_err(),
        client
            .recognize(pb::RecognizeRequest {
                image: image(ONE_FACE),
                top_k: 1000,
                ..Default::default()
            })
            .await
            .unwrap_err(),
        client
            .recognize(pb::RecognizeRequest {
                image: image(ONE_FACE),
                min_similarity: Some(1.5),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        client
            .verify(pb::VerifyRequest {
                image: image(ONE_FACE),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        client
            .register_faces(pb::RegisterFacesRequest::default())
            .await
            .unwrap_err(),
        client
            .register_faces(pb::RegisterFacesRequest {
                target: Some(pb::register_faces_request::Target::NewPerson(
                    pb::Person::default(),
                )),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        client
            .list_persons(pb::ListPersonsRequest {
                collection: String::new(),
                page_size: 10,
                page_token: "garbage".into(),
            })
            .await
            .unwrap_err(),
        client
            .create_person(pb::CreatePersonRequest::default())
            .await
            .unwrap_err(),
    ];

    for status in calls {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(reason(&status), "INVALID_FIELD", "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grey_rgba_webp_bmp_and_exif_rotated_photos_are_understood() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let upright = image::load_from_memory(&photo(ONE_FACE)).unwrap();
    let grey = {
        let mut png = Cursor::new(Vec::new());
        upright
            .grayscale()
            .write_to(&mut png, ImageFormat::Png)
            .unwrap();
        png.into_inner()
    };
    let bmp = encoded(&upright.to_rgb8(), ImageFormat::Bmp);
    let rotated =
        with_exif_orientation_6(&encoded(&upright.rotate270().to_rgb8(), ImageFormat::Jpeg));

    for (name, bytes) in [
        ("grey", grey),
        ("rgba", photo("scenes/facerec_32bit.png")),
        ("webp", photo("faces/deepface_scarlett/3.webp")),
        ("bmp", bmp),
    ] {
        let reply = server
            .client()
            .detect(pb::DetectRequest {
                image: image_bytes(bytes),
                max_faces: 0,
            })
            .await;
        let faces = reply
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner()
            .faces;
        assert!(!faces.is_empty(), "{name}: no face");
    }

    let reply = server
        .client()
        .detect(pb::DetectRequest {
            image: image_bytes(rotated),
            max_faces: 0,
        })
        .await
        .unwrap();
    let reply = reply.into_inner();
    assert_eq!(
        (reply.image_width as u32, reply.image_height as u32),
        (upright.width(), upright.height())
    );
    assert_eq!(reply.faces.len(), 1);
}

/// Inserts an EXIF block saying "rotate 90 degrees clockwise to display"
/// right after the JPEG's start-of-image marker.
fn with_exif_orientation_6(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    tiff.extend_from_slice(&[1, 0]); // one entry
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]); // Orientation = 6
    tiff.extend_from_slice(&[0; 4]); // no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);

    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_external_id_is_already_exists_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let person = |external_id: &str| pb::Person {
        name: "A".into(),
        external_id: external_id.into(),
        ..Default::default()
    };
    server
        .client()
        .create_person(pb::CreatePersonRequest {
            person: Some(person("emp-1")),
        })
        .await
        .unwrap();

    let taken = server
        .client()
        .create_person(pb::CreatePersonRequest {
            person: Some(person("emp-1")),
        })
        .await
        .unwrap_err();
    let via_registration = server
        .client()
        .register_faces(new_person_request(
            person("emp-1"),
            vec![photo(ONE_FACE)],
            pb::FaceSelection::Single,
        ))
        .await
        .unwrap_err();

    assert_eq!(
        (taken.code(), reason(&taken).as_str()),
        (Code::AlreadyExists, "EXTERNAL_ID_TAKEN")
    );
    assert_eq!(via_registration.code(), Code::AlreadyExists);
    let persons = common::persons(&server).await;
    assert_eq!(persons.len(), 1);
    assert!(
        common::recognize(&server, ONE_FACE).await.faces[0]
            .matches
            .is_empty(),
        "no orphan vector"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complete_jpeg_with_data_appended_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut motion_photo = photo("faces/deepface_angelina/4.jpg");
    motion_photo.extend(photo("scenes/skimage_astronaut.png"));

    let reply = server
        .client()
        .detect(pb::DetectRequest {
            image: image_bytes(motion_photo),
            max_faces: 0,
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reply.faces.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_registered_twice_for_a_person_is_refused_as_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let first = common::register(&server, "Angelina", &[ONE_FACE]).await;
    let person_id = first.person.unwrap().id;

    let again = server
        .client()
        .register_faces(common::existing_person_request(
            &person_id,
            &[ONE_FACE, "faces/deepface_angelina/2.jpg"],
        ))
        .await
        .unwrap()
        .into_inner();
    let twice_in_one_call = server
        .client()
        .register_faces(new_person_request(
            named("Twice"),
            vec![photo(ONE_FACE), photo(ONE_FACE)],
            pb::FaceSelection::Single,
        ))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(again.faces.len(), 1);
    assert_eq!(again.rejected.len(), 1);
    assert_eq!(
        (
            again.rejected[0].image_index,
            again.rejected[0].reason.as_str()
        ),
        (0, "DUPLICATE_FACE")
    );
    assert!(again.rejected[0].message.contains(&first.faces[0].id));
    assert_eq!(twice_in_one_call.faces.len(), 1);
    assert_eq!(twice_in_one_call.rejected[0].reason, "DUPLICATE_FACE");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_name_the_field_at_fault() {
    use tonic_types::StatusExt;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let faceless_person = server
        .client()
        .create_person(pb::CreatePersonRequest {
            person: Some(named("No faces")),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    let field = |status: &tonic::Status| {
        status
            .get_error_details()
            .bad_request()
            .map(|b| b.field_violations[0].field.clone())
            .unwrap_or_default()
    };
    let mut client = server.client();

    let other_image = client
        .verify(pb::VerifyRequest {
            collection: String::new(),
            image: image(ONE_FACE),
            reference: Some(pb::verify_request::Reference::OtherImage(
                pb::Image::default(),
            )),
            threshold: None,
        })
        .await
        .unwrap_err();
    let list_faces = client
        .list_faces(pb::ListFacesRequest {
            person_id: String::new(),
        })
        .await
        .unwrap_err();
    let uppercase = client
        .get_person(pb::GetPersonRequest {
            id: faceless_person.id.to_uppercase(),
        })
        .await
        .unwrap_err();
    let no_faces = client
        .verify(pb::VerifyRequest {
            collection: String::new(),
            image: image(ONE_FACE),
            reference: Some(pb::verify_request::Reference::PersonId(faceless_person.id)),
            threshold: None,
        })
        .await
        .unwrap_err();

    assert_eq!(
        (reason(&other_image).as_str(), field(&other_image).as_str()),
        ("EMPTY_IMAGE", "other_image")
    );
    assert_eq!(field(&list_faces), "person_id");
    assert_eq!(
        (uppercase.code(), field(&uppercase).as_str()),
        (Code::InvalidArgument, "id")
    );
    assert_eq!(
        (no_faces.code(), reason(&no_faces).as_str()),
        (Code::FailedPrecondition, "PERSON_HAS_NO_FACES")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deep_image_that_would_decode_past_the_memory_budget_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ImageLimits {
        max_pixels: 1_000_000,
        ..ImageLimits::default()
    };
    let server = server_with_limits(dir.path(), limits).await;
    let deep = image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(800, 800, image::Rgba([0; 4]));
    let mut png = Cursor::new(Vec::new());
    deep.write_to(&mut png, ImageFormat::Png).unwrap();
    let shallow = RgbImage::from_pixel(800, 800, image::Rgb([0, 0, 0]));

    let status = detect_error(&server, png.into_inner()).await;
    let accepted = server
        .client()
        .detect(pb::DetectRequest {
            image: image_bytes(encoded(&shallow, ImageFormat::Png)),
            max_faces: 0,
        })
        .await;

    assert_eq!(reason(&status), "IMAGE_TOO_LARGE");
    assert!(
        status.message().contains("8 bytes a pixel"),
        "{}",
        status.message()
    );
    assert!(
        accepted.is_ok(),
        "the same size at 8 bits a channel fits: {accepted:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_registrations_of_one_image_store_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let person_id = server
        .client()
        .create_person(pb::CreatePersonRequest {
            person: Some(named("Racer")),
        })
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap()
        .id;

    let calls = (0..3).map(|_| {
        let mut client = server.client();
        let person_id = person_id.clone();
        async move {
            client
                .register_faces(common::existing_person_request(&person_id, &[ONE_FACE]))
                .await
        }
    });
    let replies = futures::future::join_all(calls).await;

    let stored: Vec<_> = replies
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|r| !r.get_ref().faces.is_empty())
        .collect();
    assert_eq!(stored.len(), 1, "{replies:?}");
    assert_eq!(stored[0].get_ref().person.as_ref().unwrap().face_count, 1);
    for reply in &replies {
        match reply {
            Ok(r) if r.get_ref().faces.is_empty() => unreachable!("a call without faces fails"),
            Ok(_) => {}
            Err(status) => assert_eq!(reason(status), "DUPLICATE_FACE", "{status:?}"),
        }
    }
    assert_eq!(common::faces_of(&server, &person_id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_face_selection_is_refused_not_read_as_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut request = new_person_request(
        named("Unknown selection"),
        vec![photo(ONE_FACE)],
        pb::FaceSelection::Single,
    );
    request.face_selection = 7;
    let status = server
        .client()
        .register_faces(request)
        .await
        .expect_err("an undefined enum number is refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("face_selection"), "{status:?}");
    assert!(common::persons(&server).await.is_empty());
    server.stop().await;
}
