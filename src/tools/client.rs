//! Terminal commands that talk to a running facebank over gRPC.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::{stream::BoxStream, StreamExt};
use tokio::io::AsyncReadExt;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::transport::grpc::pb::{self, face_service_client::FaceServiceClient};

#[derive(clap::Args)]
pub struct Server {
    /// The facebank gRPC address.
    #[arg(
        long,
        env = "FACEBANK_SERVER",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub server: String,
    /// The collection to register in, search or list (empty: `default`).
    #[arg(long, env = "FACEBANK_COLLECTION", default_value = "", global = true)]
    pub collection: String,
}

#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Registers faces for a new person (--name) or an existing one (--person).
    Register {
        #[arg(long, required_unless_present = "person")]
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        person: Option<String>,
        /// Take the largest face of each photo instead of requiring exactly one.
        #[arg(long)]
        largest: bool,
        #[arg(required = true)]
        photos: Vec<PathBuf>,
    },
    /// Recognises every face in a photo.
    Recognize {
        photo: PathBuf,
        #[arg(long, default_value_t = 1)]
        top_k: i32,
        #[arg(long)]
        min_similarity: Option<f32>,
    },
    /// Compares a photo with another photo or with a registered person.
    Verify {
        photo: PathBuf,
        #[arg(long, required_unless_present = "person")]
        with: Option<PathBuf>,
        #[arg(long, conflicts_with = "with")]
        person: Option<String>,
    },
    /// Lists the faces found in a photo.
    Detect { photo: PathBuf },
    /// Lists every registered person.
    Persons,
    /// Asks the server's grpc.health.v1 service whether it is serving; exits
    /// non-zero when it is not (for container health checks).
    Health {
        /// The health entry to ask about: "" (the server as a whole),
        /// "facebank.v1.FaceService", or a backend such as "triton".
        #[arg(long, default_value = "")]
        service: String,
    },
    /// Streams video frames to RecognizeFrames and prints one line per frame:
    /// the image files of a folder in name order, or raw RGB24 frames on
    /// standard input (e.g. from `ffmpeg -f rawvideo -pix_fmt rgb24 -`).
    Frames {
        /// Folder of images, one per frame.
        #[arg(required_unless_present = "raw")]
        folder: Option<PathBuf>,
        /// Read raw frames of this size (WIDTHxHEIGHT) from standard input.
        #[arg(long, conflicts_with = "folder", value_parser = parse_size)]
        raw: Option<(u32, u32)>,
        /// Let the server skip frames that queue up while it is busy.
        #[arg(long)]
        drop: bool,
        #[arg(long)]
        min_similarity: Option<f32>,
    },
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text.split_once('x').ok_or("expected WIDTHxHEIGHT")?;
    let number = |s: &str| s.parse::<u32>().map_err(|e| e.to_string());
    Ok((number(w)?, number(h)?))
}

pub async fn run(server: Server, command: ClientCommand) -> anyhow::Result<()> {
    let channel = Channel::from_shared(server.server.clone())
        .with_context(|| format!("not a server address: {}", server.server))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot reach facebank at {}", server.server))?;
    if let ClientCommand::Health { service } = command {
        return health(channel, service).await;
    }
    let mut client = FaceServiceClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    call(&mut client, &server.collection, command).await
}

async fn health(channel: Channel, service: String) -> anyhow::Result<()> {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.clone(),
    });
    request.set_timeout(std::time::Duration::from_secs(5));
    let reply = HealthClient::new(channel)
        .check(request)
        .await
        .map_err(explain)?
        .into_inner();
    let status = ServingStatus::try_from(reply.status).unwrap_or(ServingStatus::Unknown);
    let name = if service.is_empty() {
        "server"
    } else {
        &service
    };
    println!("{name}: {}", status.as_str_name());
    anyhow::ensure!(status == ServingStatus::Serving, "{name} is not serving");
    Ok(())
}

/// A failed call as the person at the terminal should read it.
fn explain(status: tonic::Status) -> anyhow::Error {
    let reason = status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default();
    anyhow::anyhow!("{:?} {reason}: {}", status.code(), status.message())
}

async fn call(
    client: &mut FaceServiceClient<Channel>,
    collection: &str,
    command: ClientCommand,
) -> anyhow::Result<()> {
    let collection = collection.to_string();
    match command {
        ClientCommand::Register {
            name,
            person,
            largest,
            photos,
        } => {
            let images = photos
                .iter()
                .map(|p| read(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if let (Some(id), false) = (&person, collection.is_empty()) {
                // A person belongs to one collection; the request names only
                // the person, so a --collection that disagrees is caught here.
                let found = client
                    .get_person(pb::GetPersonRequest { id: id.clone() })
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .person
                    .unwrap_or_default();
                anyhow::ensure!(
                    found.collection == collection,
                    "person {id} is in collection {:?}, not {collection:?}",
                    found.collection
                );
            }
            let target = match person {
                Some(id) => pb::register_faces_request::Target::PersonId(id),
                None => pb::register_faces_request::Target::NewPerson(pb::Person {
                    name: name.unwrap_or_default(),
                    collection,
                    ..Default::default()
                }),
            };
            let selection = if largest {
                pb::FaceSelection::Largest
            } else {
                pb::FaceSelection::Single
            };
            let reply = client
                .register_faces(pb::RegisterFacesRequest {
                    target: Some(target),
                    images,
                    face_selection: selection as i32,
                })
                .await
                .map_err(explain)?
                .into_inner();
            let person = reply.person.unwrap_or_default();
            println!(
                "person {} ({}) now has {} face{}",
                person.id,
                person.name,
                person.face_count,
                if person.face_count == 1 { "" } else { "s" }
            );
            for face in reply.faces {
                println!("  added face {}", face.id);
            }
            for refused in reply.rejected {
                println!(
                    "  refused {}: {} {}",
                    photos[refused.image_index as usize].display(),
                    refused.reason,
                    refused.message
                );
            }
        }
        ClientCommand::Recognize {
            photo,
            top_k,
            min_similarity,
        } => {
            let image = read(&photo)?;
            let reply = client
                .recognize(pb::RecognizeRequest {
                    image: Some(image),
                    max_faces: 0,
                    top_k,
                    min_similarity,
                    collection,
                })
                .await
                .map_err(explain)?
                .into_inner();
            println!(
                "{} faces (threshold {:.3})",
                reply.faces.len(),
                reply.threshold
            );
            for (i, face) in reply.faces.iter().enumerate() {
                let b = face
                    .detection
                    .as_ref()
                    .and_then(|d| d.r#box)
                    .unwrap_or_default();
                print!(
                    "  face {i} at {:.0},{:.0} {:.0}x{:.0}: ",
                    b.x, b.y, b.width, b.height
                );
                if face.matches.is_empty() {
                    println!("unknown");
                }
                for m in &face.matches {
                    let p = m.person.clone().unwrap_or_default();
                    println!("{} ({}) similarity {:.3}", p.name, p.id, m.similarity);
                }
            }
        }
        ClientCommand::Verify {
            photo,
            with,
            person,
        } => {
            let image = read(&photo)?;
            let reference = match with {
                Some(other) => pb::verify_request::Reference::OtherImage(read(&other)?),
                None => pb::verify_request::Reference::PersonId(person.unwrap_or_default()),
            };
            let reply = client
                .verify(pb::VerifyRequest {
                    image: Some(image),
                    reference: Some(reference),
                    threshold: None,
                    collection,
                })
                .await
                .map_err(explain)?
                .into_inner();
            let verdict = if reply.same_person {
                "same person"
            } else {
                "different people"
            };
            println!(
                "{verdict}: similarity {:.3}, threshold {:.3}",
                reply.similarity, reply.threshold
            );
        }
        ClientCommand::Detect { photo } => {
            let image = read(&photo)?;
            let reply = client
                .detect(pb::DetectRequest {
                    image: Some(image),
                    max_faces: 0,
                })
                .await
                .map_err(explain)?
                .into_inner();
            println!(
                "{} faces in {}x{}",
                reply.faces.len(),
                reply.image_width,
                reply.image_height
            );
            for face in reply.faces {
                let b = face.r#box.unwrap_or_default();
                println!(
                    "  {:.0},{:.0} {:.0}x{:.0} score {:.3}",
                    b.x, b.y, b.width, b.height, face.score
                );
            }
        }
        ClientCommand::Frames {
            folder,
            raw,
            drop,
            min_similarity,
        } => {
            let options = pb::LiveOptions {
                min_similarity,
                drop_frames_when_busy: drop,
                collection,
            };
            let frames = match (folder, raw) {
                (Some(folder), _) => folder_frames(&folder)?,
                (None, Some((width, height))) => stdin_frames(width, height),
                (None, None) => anyhow::bail!("name a folder or --raw WIDTHxHEIGHT"),
            };
            let requests = frames
                .enumerate()
                .map(move |(i, frame)| pb::RecognizeFramesRequest {
                    options: (i == 0).then(|| options.clone()),
                    frame: Some(frame),
                });
            let mut replies = client
                .recognize_frames(requests)
                .await
                .map_err(explain)?
                .into_inner();
            while let Some(reply) = replies.message().await.map_err(explain)? {
                print_frame(&reply);
            }
        }
        ClientCommand::Persons => {
            let mut token = String::new();
            loop {
                let page = client
                    .list_persons(pb::ListPersonsRequest {
                        page_size: 500,
                        page_token: token,
                        collection: collection.clone(),
                    })
                    .await
                    .map_err(explain)?
                    .into_inner();
                for p in page.persons {
                    println!(
                        "{}  {}  faces {}  {}",
                        p.id, p.name, p.face_count, p.external_id
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
        }
        ClientCommand::Health { .. } => unreachable!("answered before the face client is made"),
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<pb::Image> {
    let content = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(pb::Image {
        content: content.into(),
    })
}

/// The images of a folder, in name order, as encoded frames read one at a time.
fn folder_frames(folder: &Path) -> anyhow::Result<BoxStream<'static, pb::Frame>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    let frames = futures::stream::iter(files).filter_map(|path| async move {
        match tokio::fs::read(&path).await {
            Ok(bytes) => Some(pb::Frame {
                frame_id: path.file_name()?.to_string_lossy().into_owned(),
                timestamp_ms: 0,
                image: Some(pb::frame::Image::Encoded(bytes.into())),
            }),
            Err(error) => {
                eprintln!("skipping {}: {error}", path.display());
                None
            }
        }
    });
    Ok(frames.boxed())
}

/// Raw RGB24 frames of a fixed size from standard input, until it ends.
fn stdin_frames(width: u32, height: u32) -> BoxStream<'static, pb::Frame> {
    let size = width as usize * height as usize * 3;
    futures::stream::unfold(
        (tokio::io::stdin(), 0u64),
        move |(mut stdin, index)| async move {
            let mut rgb = vec![0u8; size];
            let mut filled = 0;
            while filled < size {
                match stdin.read(&mut rgb[filled..]).await {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(error) => {
                        eprintln!("standard input failed after frame {index}: {error}");
                        return None;
                    }
                }
            }
            if filled < size {
                if filled > 0 {
                    eprintln!(
                        "ignoring the last {filled} bytes of standard input: a {width}x{height} frame takes {size}"
                    );
                }
                return None;
            }
            let frame = pb::Frame {
                frame_id: index.to_string(),
                timestamp_ms: 0,
                image: Some(pb::frame::Image::Raw(pb::RawImage {
                    rgb: rgb.into(),
                    width: width as i32,
                    height: height as i32,
                })),
            };
            Some((frame, (stdin, index + 1)))
        },
    )
    .boxed()
}

fn print_frame(reply: &pb::RecognizeFramesResponse) {
    if reply.dropped {
        println!("{:>6} {}: dropped", reply.frame_index, reply.frame_id);
        return;
    }
    let faces: Vec<String> = reply
        .faces
        .iter()
        .map(|face| {
            match face
                .identity
                .as_ref()
                .and_then(|m| Some((m.person.as_ref()?, m.similarity)))
            {
                Some((person, similarity)) => {
                    format!("track {} {} ({similarity:.3})", face.track_id, person.name)
                }
                None => format!("track {} unknown", face.track_id),
            }
        })
        .collect();
    println!(
        "{:>6} {}: {}",
        reply.frame_index,
        reply.frame_id,
        faces.join(", ")
    );
}
