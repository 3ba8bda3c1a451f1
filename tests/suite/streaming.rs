//! The streaming calls through real gRPC: streamed registration, clips and
//! live frames built from real photos.

use crate::common;

use std::time::Duration;

use common::{
    named, new_person_request, pb, photo, reason, register, TestServer, ANGELINA_TWO_PHOTOS,
};
use facebank::config::{Config, StreamingConfig};
use image::{imageops, DynamicImage, RgbImage};
use tonic::Code;

const SIX_FACES: &str = "scenes/insightface_t1.jpg";

/// A slow zoom and pan across the six-person photo: every face stays in view.
fn pan_across_six_faces(frames: u32) -> Vec<RgbImage> {
    let scene = image::load_from_memory(&photo(SIX_FACES))
        .unwrap()
        .to_rgb8();
    (0..frames)
        .map(|k| {
            let view =
                imageops::crop_imm(&scene, 4 * k, 3 * k, 1280 - 8 * k, 886 - 6 * k).to_image();
            imageops::resize(&view, 640, 443, imageops::FilterType::Triangle)
        })
        .collect()
}

/// Five slightly different framings of one photo, then five of another.
fn cut_between(first: &str, second: &str) -> Vec<RgbImage> {
    let framings = |file: &str| {
        let upright = image::load_from_memory(&photo(file)).unwrap().to_rgb8();
        (0..5u32)
            .map(|k| {
                let (w, h) = upright.dimensions();
                let view = imageops::crop_imm(
                    &upright,
                    k * w / 100,
                    k * h / 100,
                    w - 2 * k * w / 100,
                    h - 2 * k * h / 100,
                );
                imageops::resize(
                    &view.to_image(),
                    480,
                    480 * h / w,
                    imageops::FilterType::Triangle,
                )
            })
            .collect::<Vec<_>>()
    };
    let mut frames = framings(first);
    frames.extend(framings(second));
    frames
}

fn raw_frame(index: usize, image: &RgbImage) -> pb::Frame {
    pb::Frame {
        frame_id: format!("f{index}"),
        timestamp_ms: index as i64 * 40,
        image: Some(pb::frame::Image::Raw(pb::RawImage {
            rgb: image.as_raw().clone().into(),
            width: image.width() as i32,
            height: image.height() as i32,
        })),
    }
}

fn jpeg_frame(index: usize, image: &RgbImage) -> pb::Frame {
    let mut bytes = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut bytes, image::ImageFormat::Jpeg)
        .unwrap();
    pb::Frame {
        frame_id: format!("f{index}"),
        timestamp_ms: index as i64 * 40,
        image: Some(pb::frame::Image::Encoded(bytes.into_inner().into())),
    }
}

fn clip_requests(frames: Vec<pb::Frame>) -> Vec<pb::RecognizeClipRequest> {
    with_clip_options(frames, None)
}

fn with_clip_options(
    frames: Vec<pb::Frame>,
    options: Option<pb::ClipOptions>,
) -> Vec<pb::RecognizeClipRequest> {
    frames
        .into_iter()
        .map(|frame| pb::RecognizeClipRequest {
            options: options.clone(),
            frame: Some(frame),
        })
        .collect()
}

fn encoded(image: &RgbImage) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    bytes.into_inner()
}

/// Registers two of the six people from close crops of the group photo.
async fn register_two_of_the_six(server: &TestServer) -> (String, String) {
    let scene = image::load_from_memory(&photo(SIX_FACES))
        .unwrap()
        .to_rgb8();
    let mut ids = Vec::new();
    for (name, (x, y, w, h)) in [
        ("Left centre", (400, 180, 250, 300)),
        ("Right top", (840, 0, 240, 260)),
    ] {
        let crop = imageops::crop_imm(&scene, x, y, w, h).to_image();
        let reply = server
            .client()
            .register_faces(new_person_request(
                named(name),
                vec![encoded(&crop)],
                pb::FaceSelection::Largest,
            ))
            .await
            .unwrap()
            .into_inner();
        ids.push(reply.person.unwrap().id);
    }
    (ids[0].clone(), ids[1].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clip_panning_across_six_people_gives_six_tracks_spanning_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (left, right) = register_two_of_the_six(&server).await;
    let frames: Vec<pb::Frame> = pan_across_six_faces(10)
        .iter()
        .enumerate()
        .map(|(i, f)| raw_frame(i, f))
        .collect();
    // At the default threshold one of the other four people in this photo
    // scores 0.921 against "Right top"; the registered crops themselves score
    // above 0.98.
    let options = pb::ClipOptions {
        collection: String::new(),
        min_similarity: Some(0.95),
    };

    let clip = server
        .client()
        .recognize_clip(tokio_stream::iter(with_clip_options(frames, Some(options))))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(clip.frames, 10);
    assert_eq!(clip.tracks.len(), 6, "{:#?}", clip.tracks);
    for track in &clip.tracks {
        assert_eq!(
            (track.first_frame, track.last_frame, track.frames),
            (0, 9, 10),
            "{track:?}"
        );
        assert_eq!(
            (track.first_frame_id.as_str(), track.last_frame_id.as_str()),
            ("f0", "f9")
        );
    }
    let identified: Vec<(String, i32)> = clip
        .tracks
        .iter()
        .filter_map(|t| {
            Some((
                t.identity.as_ref()?.person.as_ref()?.id.clone(),
                t.agreeing_frames,
            ))
        })
        .collect();
    assert_eq!(identified.len(), 2, "{identified:?}");
    assert!(identified.iter().any(|(id, _)| *id == left));
    assert!(identified.iter().any(|(id, _)| *id == right));
    assert!(
        identified.iter().all(|(_, agreeing)| *agreeing >= 8),
        "{identified:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clip_cutting_between_two_people_gives_one_track_each() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let angelina = register(&server, "Angelina", &ANGELINA_TWO_PHOTOS)
        .await
        .person
        .unwrap();
    let jack = register(&server, "Jack", &["faces/deepface_jack/1.jpg"])
        .await
        .person
        .unwrap();
    let frames = cut_between("faces/deepface_angelina/3.jpg", "faces/deepface_jack/2.jpg");
    let frames: Vec<pb::Frame> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| jpeg_frame(i, f))
        .collect();

    let clip = server
        .client()
        .recognize_clip(tokio_stream::iter(clip_requests(frames)))
        .await
        .unwrap()
        .into_inner();

    let spans: Vec<(i32, i32, Option<String>)> = clip
        .tracks
        .iter()
        .map(|t| {
            (
                t.first_frame,
                t.last_frame,
                t.identity
                    .as_ref()
                    .map(|m| m.person.as_ref().unwrap().id.clone()),
            )
        })
        .collect();
    assert_eq!(spans, [(0, 4, Some(angelina.id)), (5, 9, Some(jack.id))]);
    assert!(
        clip.tracks.iter().all(|t| t.agreeing_frames == 5),
        "{:?}",
        clip.tracks
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn live_frames_get_one_reply_each_in_order_with_stable_tracks_and_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (left, _) = register_two_of_the_six(&server).await;
    let frames = pan_across_six_faces(12);
    let requests: Vec<pb::RecognizeFramesRequest> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| pb::RecognizeFramesRequest {
            options: None,
            frame: Some(raw_frame(i, f)),
        })
        .collect();

    let mut replies = server
        .client()
        .recognize_frames(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut received = Vec::new();
    while let Some(reply) = replies.message().await.unwrap() {
        received.push(reply);
    }

    let ids: Vec<&str> = received.iter().map(|r| r.frame_id.as_str()).collect();
    assert_eq!(ids, (0..12).map(|i| format!("f{i}")).collect::<Vec<_>>());
    assert!(received.iter().all(|r| !r.dropped && r.faces.len() == 6));
    let mut tracks: Vec<Vec<i64>> = received
        .iter()
        .map(|r| r.faces.iter().map(|f| f.track_id).collect())
        .collect();
    tracks.iter_mut().for_each(|t| t.sort());
    assert!(
        tracks.windows(2).all(|w| w[0] == w[1]),
        "track ids change: {tracks:?}"
    );
    let embedded: usize = received
        .iter()
        .map(|r| r.faces.iter().filter(|f| f.embedded).count())
        .sum();
    assert!(
        embedded < 12 * 6 / 2,
        "most faces reuse their track's identity: {embedded} embedded"
    );
    assert!(received[0].faces.iter().all(|f| f.embedded));
    for reply in &received {
        let matched = reply.faces.iter().filter(|f| {
            f.identity
                .as_ref()
                .is_some_and(|m| m.person.as_ref().unwrap().id == left)
        });
        assert_eq!(
            matched.count(),
            1,
            "frame {}: the registered face stays identified",
            reply.frame_id
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_live_stream_drops_frames_only_when_asked_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let small: Vec<RgbImage> = pan_across_six_faces(16)
        .iter()
        .map(|f| imageops::resize(f, 320, 221, imageops::FilterType::Triangle))
        .collect();
    let requests = |drop: bool| -> Vec<pb::RecognizeFramesRequest> {
        small
            .iter()
            .enumerate()
            .map(|(i, f)| pb::RecognizeFramesRequest {
                options: Some(pb::LiveOptions {
                    collection: String::new(),
                    min_similarity: None,
                    drop_frames_when_busy: drop,
                }),
                frame: Some(jpeg_frame(i, f)),
            })
            .collect()
    };

    for drop in [false, true] {
        let mut replies = server
            .client()
            .recognize_frames(tokio_stream::iter(requests(drop)))
            .await
            .unwrap()
            .into_inner();
        let mut received = Vec::new();
        while let Some(reply) = replies.message().await.unwrap() {
            received.push(reply);
        }

        let indexes: Vec<i64> = received.iter().map(|r| r.frame_index).collect();
        assert_eq!(
            indexes,
            (0..16).collect::<Vec<_>>(),
            "one reply per frame, in order"
        );
        let dropped = received.iter().filter(|r| r.dropped).count();
        if drop {
            assert!(
                dropped > 0,
                "frames queued while one was processed are dropped"
            );
            assert!(
                received.last().is_some_and(|r| !r.dropped),
                "the newest frame is always processed"
            );
            assert!(received
                .iter()
                .filter(|r| r.dropped)
                .all(|r| r.faces.is_empty()));
        } else {
            assert_eq!(dropped, 0);
        }
    }
}

fn chunks(bytes: &[u8], size: usize) -> Vec<pb::RegisterFacesStreamRequest> {
    let pieces: Vec<&[u8]> = bytes.chunks(size).collect();
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| pb::RegisterFacesStreamRequest {
            part: Some(pb::register_faces_stream_request::Part::Chunk(
                pb::ImageChunk {
                    data: piece.to_vec().into(),
                    last: i == last,
                },
            )),
        })
        .collect()
}

fn finish() -> pb::RegisterFacesStreamRequest {
    pb::RegisterFacesStreamRequest {
        part: Some(pb::register_faces_stream_request::Part::Finish(
            pb::RegistrationFinish {},
        )),
    }
}

fn header(name: &str) -> pb::RegisterFacesStreamRequest {
    pb::RegisterFacesStreamRequest {
        part: Some(pb::register_faces_stream_request::Part::Header(
            pb::RegistrationHeader {
                target: Some(pb::registration_header::Target::NewPerson(named(name))),
                face_selection: 0,
            },
        )),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_upload_registers_the_same_face_as_the_image_sent_whole() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let first = photo(ANGELINA_TWO_PHOTOS[0]);
    let second = photo(ANGELINA_TWO_PHOTOS[1]);
    let mut messages = vec![header("Streamed")];
    messages.extend(chunks(&first, 16 * 1024));
    messages.extend(chunks(&second, second.len()));
    messages.push(finish());

    let streamed = server
        .client()
        .register_faces_stream(tokio_stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    let whole = register(&server, "Whole", &ANGELINA_TWO_PHOTOS).await;

    assert_eq!(streamed.faces.len(), 2);
    for (s, w) in streamed.faces.iter().zip(&whole.faces) {
        assert_eq!(s.image_sha256, w.image_sha256);
        assert_eq!(s.detection, w.detection);
    }
    assert_eq!(streamed.person.unwrap().face_count, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_stream_cut_off_midway_registers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (sender, receiver) = tokio::sync::mpsc::channel(8);
    sender.send(header("Cut off")).await.unwrap();
    for chunk in chunks(&photo(ANGELINA_TWO_PHOTOS[0]), 1 << 20) {
        sender.send(chunk).await.unwrap();
    }
    let mut client = server.client();

    let call = tokio::time::timeout(
        Duration::from_secs(3),
        client.register_faces_stream(tokio_stream::wrappers::ReceiverStream::new(receiver)),
    )
    .await;
    assert!(
        call.is_err(),
        "the call waits for the rest of the stream until the client gives up"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let persons = common::persons(&server).await;
    assert!(persons.is_empty(), "{persons:?}");
    let recognised = common::recognize(&server, ANGELINA_TWO_PHOTOS[0]).await;
    assert!(recognised.faces[0].matches.is_empty());
    // The sender outlives the call, so the stream was cut off, never ended.
    drop(sender);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_streams_are_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let image = photo(ANGELINA_TWO_PHOTOS[0]);
    let mut client = server.client();

    let image_first = client
        .register_faces_stream(tokio_stream::iter(chunks(&image, image.len())))
        .await
        .unwrap_err();
    let mut unfinished = vec![header("A")];
    unfinished.extend(chunks(&image, 50_000).into_iter().take(2));
    unfinished.push(finish());
    let mut without_finish = vec![header("B")];
    without_finish.extend(chunks(&image, 50_000));
    let mut after_finish = without_finish.clone();
    after_finish.push(finish());
    after_finish.extend(chunks(&image, image.len()));
    let without_finish = client
        .register_faces_stream(tokio_stream::iter(without_finish))
        .await
        .unwrap_err();
    let after_finish = client
        .register_faces_stream(tokio_stream::iter(after_finish))
        .await
        .unwrap_err();
    let unfinished = client
        .register_faces_stream(tokio_stream::iter(unfinished))
        .await
        .unwrap_err();
    let two_headers = client
        .register_faces_stream(tokio_stream::iter(vec![header("A"), header("B")]))
        .await
        .unwrap_err();
    let wrong_size = client
        .recognize_clip(tokio_stream::iter(vec![pb::RecognizeClipRequest {
            options: None,
            frame: Some(pb::Frame {
                frame_id: "f0".into(),
                timestamp_ms: 0,
                image: Some(pb::frame::Image::Raw(pb::RawImage {
                    rgb: vec![0; 100].into(),
                    width: 640,
                    height: 480,
                })),
            }),
        }]))
        .await
        .unwrap_err();
    let no_image = client
        .recognize_clip(tokio_stream::iter(vec![pb::RecognizeClipRequest {
            options: None,
            frame: None,
        }]))
        .await
        .unwrap_err();
    // A frame the transport cannot read is named like one the pipeline
    // cannot decode: by position and id.
    let raw_frame = |id: &str, width: i32| pb::RecognizeClipRequest {
        options: None,
        frame: Some(pb::Frame {
            frame_id: id.into(),
            timestamp_ms: 0,
            image: Some(pb::frame::Image::Raw(pb::RawImage {
                rgb: vec![0; 12].into(),
                width,
                height: 2,
            })),
        }),
    };
    let negative_width = client
        .recognize_clip(tokio_stream::iter(vec![
            raw_frame("f0", 2),
            raw_frame("f1", -1),
        ]))
        .await
        .unwrap_err();
    assert!(
        negative_width
            .message()
            .contains("frame 1 (\"f1\"): must not be negative"),
        "{negative_width:?}"
    );
    assert!(
        wrong_size.message().contains("frame 0 (\"f0\")"),
        "{wrong_size:?}"
    );

    for (name, status) in [
        ("image before header", image_first),
        ("unfinished image", unfinished),
        ("two headers", two_headers),
        ("no finish", without_finish),
        ("chunk after finish", after_finish),
        ("wrong raw size", wrong_size),
        ("no frame", no_image),
        ("negative raw width", negative_width),
    ] {
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
        assert_eq!(reason(&status), "INVALID_FIELD", "{name}: {status:?}");
    }
    let persons = common::persons(&server).await;
    assert!(persons.is_empty());

    // A frame that is not an image: the error says which frame it was.
    let frame = |id: &str, bytes: Vec<u8>| pb::RecognizeClipRequest {
        options: None,
        frame: Some(pb::Frame {
            frame_id: id.into(),
            timestamp_ms: 0,
            image: Some(pb::frame::Image::Encoded(bytes.into())),
        }),
    };
    let corrupt = client
        .recognize_clip(tokio_stream::iter(vec![
            frame("good", common::photo("faces/deepface_jack/1.jpg")),
            frame("broken", b"not an image at all".to_vec()),
        ]))
        .await
        .unwrap_err();
    assert_eq!(corrupt.code(), Code::InvalidArgument, "{corrupt:?}");
    assert!(
        corrupt.message().contains("frame 1 (\"broken\")"),
        "{corrupt:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_past_their_frame_or_time_limit_end_with_resource_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let streaming = StreamingConfig {
        max_frames: 3,
        max_duration_secs: 1,
        ..StreamingConfig::default()
    };
    let server = TestServer::start_with(Config {
        data_dir: dir.path().into(),
        streaming,
        ..Config::default()
    })
    .await;
    let frames: Vec<pb::Frame> = pan_across_six_faces(4)
        .iter()
        .enumerate()
        .map(|(i, f)| jpeg_frame(i, f))
        .collect();

    let too_many = server
        .client()
        .recognize_clip(tokio_stream::iter(clip_requests(frames.clone())))
        .await
        .unwrap_err();

    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    sender
        .send(pb::RecognizeFramesRequest {
            options: None,
            frame: Some(frames[0].clone()),
        })
        .await
        .unwrap();
    let mut replies = server
        .client()
        .recognize_frames(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .unwrap()
        .into_inner();
    let first = replies.message().await.unwrap().unwrap();
    let too_long = replies.message().await.unwrap_err();
    drop(sender);

    assert_eq!(too_many.code(), Code::ResourceExhausted, "{too_many:?}");
    assert!(
        too_many.message().contains("3 frames"),
        "{}",
        too_many.message()
    );
    assert_eq!(first.frame_id, "f0");
    assert_eq!(too_long.code(), Code::ResourceExhausted, "{too_long:?}");
    assert!(too_long.message().contains("1 s"), "{}", too_long.message());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_client_may_wait_for_each_reply_before_sending_the_next_frame() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let frames = pan_across_six_faces(3);
    let (sender, receiver) = tokio::sync::mpsc::channel(1);

    let lockstep = async {
        let mut replies = server
            .client()
            .recognize_frames(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
            .unwrap()
            .into_inner();
        let mut ids = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let request = pb::RecognizeFramesRequest {
                options: None,
                frame: Some(jpeg_frame(i, frame)),
            };
            sender.send(request).await.unwrap();
            ids.push(replies.message().await.unwrap().unwrap().frame_id);
        }
        ids
    };
    let ids = tokio::time::timeout(Duration::from_secs(60), lockstep)
        .await
        .expect("the server answers before the client has sent anything");

    assert_eq!(ids, ["f0", "f1", "f2"]);
}
